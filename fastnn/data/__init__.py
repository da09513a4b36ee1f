"""Data pipeline: batching (DataLoader) and seeded augmentation (fastnn.data.augment, Cython)."""
from fastnn.data import augment
from fastnn.data.augment import (Compose, GaussianNoise, RandomCrop, RandomHorizontalFlip,
                                 RandomShift)
from fastnn.data.loader import DataLoader

__all__ = ["DataLoader", "augment", "Compose", "RandomCrop", "RandomShift",
           "RandomHorizontalFlip", "GaussianNoise"]
