#!/usr/bin/env python3
"""Prints the kernel benchmark table (markdown) from the lines of one run:
`CSV,...` rows of `kbench bench` and `REF,...` rows of bench/torch_ref.py
(copy bandwidth, bf16 matmul rate, the torch._grouped_mm layer), read from
the files given or stdin. Every ratio uses the ceilings of the same run.

  weight BW % copy  = active experts' weight+scale bytes / best pipeline time
                      / measured copy bandwidth (read + write bytes)
  TFLOP/s % bf16    = pipeline FLOPs / best pipeline time / measured bf16 rate
  floor             = max(bytes / copy bandwidth, FLOPs / bf16 rate)
  speedup           = torch layer time / best pipeline time
"""
import csv
import fileinput
import sys

TARGETS = "gptoss-120b a16w4: M=1 pipeline <= 40 us; M=128 >= 85% copy BW; " \
          "M <= 128 >= 3x the bf16 grouped GEMM; M=8192 >= 55% bf16 rate"


def main():
    rows, copy, mm, torch = [], None, None, {}
    for line in fileinput.input(sys.argv[1:]):
        f = next(csv.reader([line.strip()]))
        if not f or len(f) < 3:
            continue
        if f[0] == "CSV" and f[1] != "family":
            rows.append(f[1:])
        elif f[0] == "REF" and f[1] == "copy_gbs":
            copy = float(f[2]) * 1e9
        elif f[0] == "REF" and f[1] == "bf16_tflops":
            mm = float(f[2]) * 1e12
        elif f[0] == "REF" and f[1] == "grouped_mm":
            torch[(f[2], int(f[3]))] = float(f[4])
    if copy is None or mm is None:
        sys.exit("table.py: no REF copy_gbs / bf16_tflops line (run torch_ref.py in the same run)")
    print(f"Ceilings (this run): copy {copy / 1e9:.0f} GB/s, bf16 matmul {mm / 1e12:.0f} TFLOP/s\n")
    print("| family | dtype | M | default g1/g2/pipe µs | best g1/g2/pipe µs | floor µs "
          "| % of floor | weight BW % copy | TFLOP/s % bf16 | torch µs | speedup | best g1 | best g2 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        fam, dt, M = r[0], r[1], int(r[2])
        d1, d2, dp, b1, b2, bp = (float(x) for x in r[3:9])
        wb, fl = float(r[9]), float(r[10])
        floor = max(wb / copy, fl / mm) * 1e6
        t = torch.get((fam, M))
        sp = f"{t / bp:.2f}x" if t == t and t else "-"
        print(f"| {fam} | {dt} | {M} | {d1:.0f}/{d2:.0f}/{dp:.0f} | {b1:.0f}/{b2:.0f}/{bp:.0f} "
              f"| {floor:.1f} | {100 * floor / bp:.0f}% | {100 * wb / (bp * 1e-6) / copy:.0f}% "
              f"| {100 * fl / (bp * 1e-6) / mm:.1f}% | {t if t else '-'} | {sp} | {r[11]} | {r[12]} |")
    print(f"\nTargets: {TARGETS}")


if __name__ == "__main__":
    main()
