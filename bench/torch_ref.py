"""Ceilings and the PyTorch bf16 peer, measured in the same run as kbench:
device-to-device copy bandwidth (read + write bytes), bf16 matmul 8192^3,
and the MoE layer (gemm1 + act + gemm2 + weighted scatter) in bf16 with
torch._grouped_mm, cold L2, median of 20. Prints REF lines."""
import sys
import torch

def bench(fn, reps=20):
    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    fn()
    ts = []
    for i in range(reps):
        flush.fill_(i & 255)
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        ts.append(a.elapsed_time(b) * 1000.0)
    ts.sort()
    return ts[len(ts) // 2]

def moe_layer(M, H, I, E, K):
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(M, H, device="cuda", dtype=torch.bfloat16, generator=g)
    w1 = torch.randn(E, H, 2 * I, device="cuda", dtype=torch.bfloat16, generator=g) * 0.02
    w2 = torch.randn(E, I, H, device="cuda", dtype=torch.bfloat16, generator=g) * 0.02
    ids = torch.stack([torch.randperm(E, device="cuda", generator=g)[:K] for _ in range(M)]) \
        if M <= 1024 else torch.randint(0, E, (M, K), device="cuda", generator=g)
    tw = torch.softmax(torch.randn(M, K, device="cuda", generator=g), -1)
    def run():
        flat = ids.reshape(-1)
        order = torch.argsort(flat)
        tok = order // K
        counts = torch.bincount(flat, minlength=E)
        offs = torch.cumsum(counts, 0).to(torch.int32)
        a = x[tok]
        h = torch._grouped_mm(a, w1, offs=offs)
        gte, up = h[:, :I], h[:, I:]
        gte = gte.clamp(max=7.0); up = up.clamp(-7.0, 7.0)
        act = gte * torch.sigmoid(1.702 * gte) * (up + 1)
        y = torch._grouped_mm(act.to(torch.bfloat16), w2, offs=offs)
        y = y * tw.reshape(-1)[order].unsqueeze(1).to(y.dtype)
        out = torch.zeros(M, H, device="cuda", dtype=torch.float32)
        out.index_add_(0, tok, y.float())
        return out
    return bench(run)

def main():
    n = 1 << 30
    src = torch.empty(n, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    us = bench(lambda: dst.copy_(src))
    print(f"REF,copy_gbs,{2 * n / us / 1e3:.1f}")
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    us = bench(lambda: a @ b)
    print(f"REF,bf16_tflops,{2 * 8192 ** 3 / us / 1e6:.1f}")
    del src, dst, a, b
    for name, H, I, E, K in (("gptoss-120b", 2880, 2880, 128, 4), ("dsv3-tp8", 7168, 256, 257, 9)):
        for M in (1, 16, 128, 1024, 8192):
            try:
                print(f"REF,grouped_mm,{name},{M},{moe_layer(M, H, I, E, K):.1f}")
            except Exception as e:  # report, keep going
                print(f"REF,grouped_mm,{name},{M},nan,{type(e).__name__}: {e}"[:200])
            sys.stdout.flush()

if __name__ == "__main__":
    main()
