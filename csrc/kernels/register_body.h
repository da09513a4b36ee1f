// The common part of each ISA folder's register.cpp, included inside that folder's namespace
// after it defines FASTNN_KERNELS_INC (its kernels.inc, as a path from csrc/kernels/) and
// FASTNN_KERNELS_ISA (its Isa enumerator). Declares the folder's kernels with their slots'
// signatures and defines fill_kernels(t), which puts each one into its slot of the table;
// register_kernels then sets the folder's tiles and blocking. No include guard: once per ISA.
#define K(slot, symbol) FASTNN_DECLARE_KERNEL(slot, symbol)
#include FASTNN_KERNELS_INC
#undef K

inline void fill_kernels(KernelTable& t) {
#define K(slot, symbol) FASTNN_FILL_KERNEL(t, FASTNN_KERNELS_ISA, slot, symbol)
#include FASTNN_KERNELS_INC
#undef K
}

#undef FASTNN_KERNELS_INC
#undef FASTNN_KERNELS_ISA
