"""Fuzz registry, weight sharing (bind_compress.cpp). Valid calls mirror
fastnn/compress/_cluster.py."""
import numpy as np

from fastnn import _C

from .core import Arg, Call, registrar
from .reg_dense import f32

ENTRIES = []
entry = registrar(ENTRIES)


@entry("kmeans1d", Arg("values", "array"), Arg("init", "array"), Arg("max_iter", "int"))
def _kmeans1d():
    return Call(_C.kmeans1d, values=f32(5, 7), init=np.linspace(-1.0, 1.0, 4), max_iter=20)


@entry("cluster_assign", Arg("weight", "array"), Arg("centroids", "array"), Arg("mask", "array"))
def _cluster_assign():
    return Call(_C.cluster_assign, weight=f32(3, 4), centroids=np.linspace(-1, 1, 5, dtype=np.float32),
                mask=(f32(3, 4, seed=1) > 0).astype(np.float32))


@entry("cluster_step", Arg("data", "out"), Arg("index", "array"), Arg("centroids", "out"),
       Arg("mean", "bool"))
def _cluster_step():
    c = np.linspace(-1, 1, 5, dtype=np.float32)
    w = f32(3, 4)
    idx = _C.cluster_assign(w, c)
    idx[0, 0] = -1
    return Call(_C.cluster_step, data=w, index=idx, centroids=c, mean=False)
