"""``python -m fastnn demo --distributed``: the demo CNN trained data-parallel over MPI; prints
the per-rank and the global throughput (rank 0 prints, every rank trains)."""
import os
import time

import fastnn
from fastnn import distributed as dist


def demo(args, load_data, build_cnn):
    from fastnn import nn, optim
    dist.init()
    r, n = dist.rank(), dist.world_size()
    if args.threads:
        fastnn.set_num_threads(args.threads)
    fastnn.manual_seed(args.seed)
    name, xtr, ytr, xte, yte = load_data(args.data, quiet=r != 0)
    epochs = args.epochs if args.epochs is not None else (1 if name == "MNIST" else 5)
    model = build_cnn(xtr.shape[-1])
    opt = optim.Adam(model.parameters(), lr=1e-3)
    if r == 0:
        print(f"fastnn {fastnn.__version__} | ISA {fastnn.get_isa()} | {n} rank(s) x "
              f"{fastnn.get_num_threads()} thread(s) | data: {name}, {len(xtr)} images | "
              f"batch {args.batch_size} per rank, {args.batch_size * n} global, "
              f"{epochs} epoch(s)")
    dopt = dist.DistributedOptimizer(opt)
    dist.barrier()
    t0 = time.perf_counter()
    fastnn.fit(model, nn.CrossEntropyLoss(), dopt, xtr, ytr, batch_size=args.batch_size,
               epochs=epochs, verbose=1 if args.progress or r == 0 else 0, seed=args.seed,
               distributed=True)
    secs = time.perf_counter() - t0
    mine = epochs * len(xtr) / n / secs
    rates = dist.allreduce_sum([mine if i == r else 0.0 for i in range(n)])
    share = dist.allreduce_sum([dopt.allreduce_seconds / secs])[0] / n
    acc = fastnn.evaluate(model, nn.CrossEntropyLoss(), xte, yte)["accuracy"]
    if r == 0:
        for i, v in enumerate(rates):
            print(f"rank {i}: {v:,.0f} samples/s")
        print(f"global: {epochs * len(xtr) / secs:,.0f} samples/s over {n} rank(s) "
              f"({secs:.1f} s); allreduce {100 * share:.1f}% of the time; "
              f"test accuracy {100 * acc:.2f}%")
        if args.output:
            fastnn.save(model, os.path.expanduser(args.output))
    return 0
