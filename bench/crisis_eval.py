"""Measure the deterministic crisis tier on a labelled JSONL file.

Usage: python bench/crisis_eval.py FILE.jsonl [--show-misses] [--json]

Rows: {"text": str, "crisis": bool, "lang"?, "source"?, "subset"?, "cat"?}. "Crisis predicted" is reported
two ways so the project can choose the operating point: escalate (level >= moderate, what triggers the safety
reply) and any risk (level >= low). Texts are only ever printed to the terminal (with --show-misses), never
written anywhere: evaluation data is third-party and sensitive.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.crisis.detect import assess  # noqa: E402
from bot.crisis.levels import RiskLevel  # noqa: E402

THRESHOLDS = {"escalate (>=moderate)": RiskLevel.MODERATE, "any risk (>=low)": RiskLevel.LOW}


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:.3f}"


def metrics(rows: list[dict[str, Any]], levels: list[RiskLevel], threshold: RiskLevel) -> dict[str, Any]:
    tp = fp = fn = tn = 0
    for row, lv in zip(rows, levels):
        pred, gold = lv >= threshold, bool(row.get("crisis"))
        tp += pred and gold
        fp += pred and not gold
        fn += gold and not pred
        tn += not pred and not gold
    recall, precision = _rate(tp, tp + fn), _rate(tp, tp + fp)
    f1 = None if not recall or not precision else 2 * recall * precision / (recall + precision)
    out: dict[str, Any] = {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "recall": recall, "fpr": _rate(fp, fp + tn),
                           "precision": precision, "f1": f1}
    for key, kind in (("lang", "recall"), ("source", "recall"), ("subset", "fpr"), ("cat", "fpr")):
        groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row, lv in zip(rows, levels):
            if key not in row:
                continue
            gold = bool(row.get("crisis"))
            if (kind == "recall") != gold:
                continue
            g = groups[str(row[key])]
            g[0] += lv >= threshold
            g[1] += 1
        if groups:
            out[f"{kind}_by_{key}"] = {k: {"rate": _rate(a, n), "n": n} for k, (a, n) in sorted(groups.items())}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--show-misses", action="store_true", help="print misses and false positives (terminal only)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    results = [assess(str(r.get("text", "")), r.get("lang")) for r in rows]
    levels = [a.level for a in results]
    report = {name: metrics(rows, levels, th) for name, th in THRESHOLDS.items()}
    confusion: dict[str, Counter[str]] = {"crisis": Counter(), "not_crisis": Counter()}
    for row, lv in zip(rows, levels):
        confusion["crisis" if row.get("crisis") else "not_crisis"][lv.label] += 1
    report["confusion"] = {k: dict(v) for k, v in confusion.items()}
    report["n"] = len(rows)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{len(rows)} rows from {args.file}")
        for name in THRESHOLDS:
            m = report[name]
            print(f"\n== crisis := {name}")
            print(f"recall {_fmt(m['recall'])}  FPR {_fmt(m['fpr'])}  precision {_fmt(m['precision'])}  "
                  f"F1 {_fmt(m['f1'])}   (tp {m['tp']} fp {m['fp']} fn {m['fn']} tn {m['tn']})")
            for key in ("recall_by_lang", "recall_by_source", "fpr_by_subset", "fpr_by_cat"):
                if key in m:
                    cells = "  ".join(f"{k}={_fmt(v['rate'])}/{v['n']}" for k, v in m[key].items())
                    print(f"  {key:17s} {cells}")
        print("\n== confusion (label x level)")
        names = [lv.label for lv in RiskLevel]
        print(f"  {'':11s}" + "".join(f"{n:>10s}" for n in names))
        for k, c in confusion.items():
            print(f"  {k:11s}" + "".join(f"{c.get(n, 0):10d}" for n in names))
    if args.show_misses:
        print("\n== misses (crisis, level < moderate)")
        for row, a in zip(rows, results):
            if row.get("crisis") and a.level < RiskLevel.MODERATE:
                print(f"- [{a.level.label}|{','.join(a.signals)}|{row.get('source', '')}] {row.get('text', '')!r}")
        print("\n== false positives (not crisis, level >= moderate)")
        for row, a in zip(rows, results):
            if not row.get("crisis") and a.level >= RiskLevel.MODERATE:
                print(f"- [{a.level.label}|{','.join(a.signals)}|{row.get('subset', '')}] {row.get('text', '')!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
