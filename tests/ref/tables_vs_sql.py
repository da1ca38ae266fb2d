#!/usr/bin/python3
"""`biqa tables` against direct SQL over the same results store.

usage: tables_vs_sql.py BIQA DB SRC [PROFILE]

Runs `biqa tables --format md|latex|csv --out DIR` on DB with the specs of
SRC/paper/tables, then recomputes every cell from the spec JSON with
Python's sqlite3 and NumPy, independently of biqa's C code:

- selection: the merged "where" of table < section < row < column as SQL
  (runs columns, metrics columns, json_extract of config paths), finished
  runs, final values (step NULL); one value per split and configuration: a
  SQL window keeps the newest run of each (split hash, or the run itself
  without one; metrics dataset; split; config_json less the sections that
  do not change results); "latest" tables keep the newest run only;
- the value: numpy.median of the kept values in run-id order (NaN when any
  is NULL); the CI: the percentile bootstrap of results/aggregate.h, seed
  0, 10000 resamples, 95 %, with the NumPy mirror of core/rng.h
  (tests/ref/rng.py); published cells: the published table;
- bold: the best rounded value of a column within a section, when the
  section has two or more values;
- `--where group=1` (the runs of the first `biqa reproduce`) over the
  synthetic table, merged into every cell's selection;
- empty cells: "-" and a note naming the fill command, built here from the
  template, leaving out the --set terms the profile (`biqa config show
  --profile PROFILE --json`, default demo) already has.

Each number of the Markdown and the LaTeX output is compared with its
expected text (medians and published values exactly, CI bounds to half a
unit of the last decimal shown), the CSV's unrounded values exactly, and
`biqa tables --explain TABLE ROW COLUMN --json` of every filled cell (and
of the empty and published ones) must list exactly the kept runs, with
their split hashes, config hashes and git commits as the runs table has
them. Prints one line per check; exits 1 naming every failure.
"""
import csv
import glob
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rng as biqa_rng  # noqa: E402

RUN_COLS = {"kind", "method", "backbone", "seed", "git_commit"}
METRIC_COLS = {"dataset", "split", "metric"}
RESULT_CONFIG = ("json_remove(r.config_json, '$.downstream', '$.run', '$.compute', '$.eval', "
                 "'$.pretrain.methods', '$.data.downstream')")
RESAMPLES, LEVEL = 10000, 0.95
SHELL_SAFE = re.compile(r"^[A-Za-z0-9_.,+\-=/:@]+$")

failures = []
counts = {"md": 0, "latex": 0, "csv": 0, "explain": 0, "filled": 0}


def check(name, ok, detail=""):
    if not ok:
        failures.append(name)
        print(f"FAIL {name}{': ' + detail if detail else ''}", flush=True)
    return ok


# ---- the oracle ---------------------------------------------------------

def merged_where(spec, section, row, col, extra):
    w = {}
    for part in (spec.get("where", {}), section.get("where", {}), row.get("where", {}),
                 col.get("where", {}), extra):
        w.update(part)
    return w


def select(con, where, latest):
    conds, params = [], []
    for key, value in where.items():
        if isinstance(value, bool):
            value = int(value)
        if key in RUN_COLS:
            conds.append(f"r.{key} = ?")
        elif key in METRIC_COLS:
            conds.append(f"m.{key} = ?")
        elif key == "group":
            conds.append("r.id IN (SELECT run_id FROM run_members WHERE group_run = ?)")
        else:
            conds.append("json_extract(r.config_json, ?) = ?")
            params.append("$." + key)
        params.append(value)
    sql = f"""
        WITH sel AS (
          SELECT r.id, m.value, r.split_hash, r.config_hash, r.git_commit, m.split,
                 {RESULT_CONFIG} AS cfg,
                 row_number() OVER (
                   PARTITION BY CASE WHEN r.split_hash IS NULL OR r.split_hash = ''
                                     THEN 'run ' || r.id ELSE r.split_hash END,
                                m.dataset, m.split, {RESULT_CONFIG}
                   ORDER BY r.id DESC) AS rank
          FROM runs r JOIN metrics m ON m.run_id = r.id
          WHERE r.status = 'finished' AND m.step IS NULL AND {' AND '.join(conds)})
        SELECT id, value, split_hash, config_hash, git_commit, split, cfg FROM sel
        WHERE rank = 1 {'AND id = (SELECT max(id) FROM sel)' if latest else ''}
        ORDER BY id, split"""
    return con.execute(sql, params).fetchall()


def bootstrap(v):
    v = np.asarray(v, dtype=np.float64)
    n = len(v)
    idx = biqa_rng.below(0, biqa_rng.stream_id("bootstrap"),
                         np.arange(RESAMPLES * n, dtype=np.uint64), n).astype(np.int64)
    medians = np.median(v[idx].reshape(RESAMPLES, n), axis=1)
    lo, hi = np.quantile(medians, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(lo), float(hi)


def fmt(col, spec, v):
    """A value as the column shows it (results/table_fill.c, harness/table_format.c)."""
    if v is None or math.isnan(v):
        return "NaN"
    digits = col.get("digits", 0)
    if digits > 0:
        r = float("%.*g" % (digits, v))
        decimals = digits - 1 if r == 0 else digits - 1 - math.floor(math.log10(abs(r)))
        decimals = max(decimals, 0)
    else:
        decimals = col.get("decimals", spec.get("decimals", 3))
        r = float("%.*f" % (decimals, v))
    return "%.*f%s" % (decimals, 0.0 if r == 0 else r, col.get("suffix", ""))


def half_unit(col, spec, shown):
    m = re.match(r"-?\d+(?:\.(\d+))?", shown)
    return 0.5 * 10 ** -len(m.group(1) or "") if m else 0


def shell(text):
    return text if SHELL_SAFE.match(text) else "'" + text.replace("'", "'\\''") + "'"


def value_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def fill_command(spec, section, row, where, profile_name, profile):
    template = row.get("fill") or section.get("fill") or spec["fill"]

    def sub(m):
        name = m.group(1)
        if name == "profile":
            return shell(profile_name)
        if name == "set":
            out = ""
            for key, value in where.items():
                if "." not in key or key.startswith(("bench.", "downstream.")):
                    continue
                node = profile
                for part in key.split("."):
                    node = node.get(part) if isinstance(node, dict) else None
                if node is not None and node == value and type(node) is type(value):
                    continue
                out += " --set " + shell(f"{key}={value_text(value)}")
            return out
        return shell(value_text(where[name]))
    return re.sub(r"\{(\w+)\}", sub, template)


def rows_of(spec):
    """(section, row) in table order."""
    if "rows" in spec:
        untitled = {}
        return [(untitled, r) for r in spec["rows"]]
    return [(s, r) for s in spec["sections"] for r in s["rows"]]


def expected_table(con, spec, profile_name, profile, extra=None):
    """cells[r][k]: dict(state, text, runs, value, ci, bold, note)."""
    latest = spec.get("aggregate") == "latest"
    cells = []
    for section, row in rows_of(spec):
        line = []
        for col in spec["columns"]:
            c = {"section": section}
            if section.get("source") == "published":
                pub = col.get("published")
                vals = con.execute(
                    "SELECT value, source FROM published WHERE paper_table = ? AND method = ? "
                    "AND dataset = ? AND metric = ? ORDER BY value, source",
                    (spec["published_table"], row["published"], pub["dataset"],
                     pub["metric"])).fetchall() if pub else []
                if vals:
                    distinct = sorted({v for v, _ in vals})
                    c.update(state="published", value=max(distinct),
                             text="/".join(fmt(col, spec, v) for v in distinct), runs=[],
                             sources=vals)
                else:
                    c.update(state="unreported", value=None, text="-", runs=[])
            else:
                where = merged_where(spec, section, row, col, extra or {})
                rows = select(con, where, latest)
                if not rows:
                    c.update(state="empty", value=None, text="-", runs=[],
                             fill=fill_command(spec, section, row, where, profile_name, profile))
                else:
                    vals = [float("nan") if x[1] is None else x[1] for x in rows]
                    med = float(np.median(vals)) if not any(map(math.isnan, vals)) else math.nan
                    ci = bootstrap(vals) if not latest and not math.isnan(med) else None
                    c.update(state="runs", value=med, text=fmt(col, spec, med), runs=rows,
                             ci=ci, configs=len({x[6] for x in rows}))
            line.append(c)
        cells.append(line)
    # bold: per column, per section, on the rounded values
    sections = [id(s) for s, _ in rows_of(spec)]
    for k, col in enumerate(spec["columns"]):
        rule = col.get("bold", spec.get("bold", "max"))
        for sec in set(sections):
            idx = [r for r in range(len(cells)) if sections[r] == sec and
                   cells[r][k]["value"] is not None and not math.isnan(cells[r][k]["value"])]
            rounded = {r: float(re.sub(r"[^0-9.eE+-]", "", fmt(col, spec, cells[r][k]["value"])))
                       for r in idx}
            best = (max if rule == "max" else min)(rounded.values()) if idx else None
            for r in range(len(cells)):
                cells[r][k]["bold"] = (rule != "none" and len(idx) > 1 and r in rounded and
                                       rounded[r] == best) or cells[r][k].get("bold", False)
    return cells


# ---- parsing biqa's output ---------------------------------------------------

def parse_md(text):
    """(rows: list of (label, [cell texts]), notes: {label: text})."""
    lines = [l for l in text.splitlines() if l.startswith("| ")]
    rows = []
    for l in lines[1:]:  # after the header; the |:---| line does not start with "| "
        parts = l[2:-2].split(" | ")
        if parts[0].startswith("***"):
            continue
        rows.append((md_unescape(parts[0]), parts[1:]))
    notes = dict(re.findall(r"^\[\^([\w-]+)\]: (.*)$", text, re.M))
    return rows, notes


def md_unescape(s):
    return re.sub(r"\\(.)", r"\1", s)


MD_CELL = re.compile(r"^(?P<b>\*\*)?(?P<v>[^*\\\[]+?)(?P=b)?"
                     r"(?: \\\[(?P<lo>[^,]+), (?P<hi>[^\\]+)\\\])?(?:\[\^(?P<note>[\w-]+)\])?$")


def parse_md_cell(s):
    m = MD_CELL.match(s)
    if not m:
        return None
    return dict(text=m.group("v"), bold=bool(m.group("b")), lo=m.group("lo"), hi=m.group("hi"),
                note=m.group("note"))


def latex_unescape(s):
    s = re.sub(r"\\texttt\{(.*)\}", r"\1", s).replace("\\allowbreak{}", "")
    s = s.replace("-{}", "-").replace("\\textasciicircum{}", "^").replace("\\textasciitilde{}", "~")
    s = s.replace("\\textbackslash{}", "\\").replace("\\textless{}", "<")
    s = s.replace("\\textgreater{}", ">").replace("\\textbar{}", "|")
    return re.sub(r"\\([{}$&#_%])", r"\1", s)


def parse_latex(text):
    body = text.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
    rows = []
    for l in body.splitlines():
        if not l or l.startswith("\\multicolumn") or l == "\\midrule":
            continue
        parts = l[:-3].split(" & ")
        rows.append((latex_unescape(parts[0]), parts[1:]))
    notes = {}
    for m in re.finditer(r"^\$\^\{(\d+)\}\$\\,(.*?)(?:\\\\)?$", text, re.M):
        notes[m.group(1)] = latex_unescape(m.group(2))
    return rows, notes


LATEX_CELL = re.compile(r"^(?P<b>\\textbf\{)?(?P<v>[^{}]+?)(?(b)\})"
                        r"(?: \{\\scriptsize\[(?P<lo>[^,]+), (?P<hi>[^\]]+)\]\})?"
                        r"(?:\$\^\{(?P<note>\d+)\}\$)?$")


def parse_latex_cell(s):
    m = LATEX_CELL.match(s)
    if not m:
        return None
    minus = lambda x: x.replace("$-$", "-") if x else x  # noqa: E731
    v = minus(m.group("v"))
    return dict(text="-" if v == "--" else v, bold=bool(m.group("b")), lo=minus(m.group("lo")),
                hi=minus(m.group("hi")), note=m.group("note"))


# ---- the comparison ---------------------------------------------------------

def compare(fmt_name, spec, cells, rows, notes, parse_cell):
    name = spec["name"]
    expect_rows = rows_of(spec)
    if not check(f"{fmt_name} {name}: {len(expect_rows)} rows", len(rows) == len(expect_rows),
                 f"got {len(rows)}"):
        return
    for r, ((section, row), (label, texts)) in enumerate(zip(expect_rows, rows)):
        check(f"{fmt_name} {name} row {row['id']}: label", label == row["label"],
              f"{label!r} != {row['label']!r}")
        if not check(f"{fmt_name} {name} row {row['id']}: {len(spec['columns'])} cells",
                     len(texts) == len(spec["columns"]), repr(texts)):
            continue
        for k, (col, text) in enumerate(zip(spec["columns"], texts)):
            where = f"{fmt_name} {name} [{row['id']}, {col['id']}]"
            got, exp = parse_cell(text), cells[r][k]
            if not check(f"{where}: parses", got is not None, repr(text)):
                continue
            counts[fmt_name] += 1
            counts["filled"] += fmt_name == "md" and exp["state"] == "runs"
            check(f"{where}: value", got["text"] == exp["text"], f"{got['text']!r} != {exp['text']!r}")
            check(f"{where}: bold", got["bold"] == exp["bold"], f"bold {got['bold']}")
            note = notes.get(got["note"], "") if got["note"] else ""
            if exp["state"] == "runs" and exp.get("ci") and spec.get("ci", True):
                for side, bound in (("lo", exp["ci"][0]), ("hi", exp["ci"][1])):
                    shown = got[side]
                    ok = shown is not None and abs(float(re.sub(r"[^0-9.eE+-]", "", shown)) -
                                                   bound) <= half_unit(col, spec, shown) + 1e-12
                    check(f"{where}: CI {side}", ok, f"{shown!r} vs {bound!r}")
            elif got["lo"] is not None:
                check(f"{where}: no CI", False, text)
            if exp["state"] == "empty":
                check(f"{where}: note names the fill command", exp["fill"] in note,
                      f"{note!r} lacks {exp['fill']!r}")
            elif exp["state"] == "unreported":
                check(f"{where}: note says unreported", "not reported" in note, note)
            elif exp["state"] == "runs" and exp["configs"] > 1:
                check(f"{where}: note says the configs mix",
                      f"mixes runs of {exp['configs']} configurations" in note, note)
            elif exp["state"] == "runs" and math.isnan(exp["value"]):
                check(f"{where}: note says undefined", note.startswith("undefined"), note)
            elif exp["state"] == "published" and len({v for v, _ in exp["sources"]}) > 1:
                check(f"{where}: note names both sources",
                      all(s in note for _, s in exp["sources"]), note)
            else:
                check(f"{where}: no note", not got["note"], note)


def compare_csv(spec, cells, path):
    with open(path, newline="") as f:
        lines = list(csv.DictReader(f))
    by_cell = {}
    for line in lines:
        by_cell.setdefault((line["row"], line["column"]), []).append(line)
    for r, (section, row) in enumerate(rows_of(spec)):
        for k, col in enumerate(spec["columns"]):
            exp, got = cells[r][k], by_cell.get((row["id"], col["id"]), [])
            where = f"csv {spec['name']} [{row['id']}, {col['id']}]"
            if not check(f"{where}: present", bool(got)):
                continue
            counts["csv"] += 1
            if exp["state"] == "runs":
                v = got[0]["value"]
                ok = (v == "NaN" and math.isnan(exp["value"])) or (v != "NaN" and float(v) == exp["value"])
                check(f"{where}: value {v}", ok, f"expected {exp['value']!r}")
                check(f"{where}: runs", got[0]["runs"].split() ==
                      [str(i) for i in dict.fromkeys(x[0] for x in exp["runs"])],
                      f"{got[0]['runs']!r}")
                check(f"{where}: n", int(got[0]["n"]) == len(exp["runs"]))
            elif exp["state"] == "published":
                check(f"{where}: published values",
                      sorted(float(x["value"]) for x in got) == sorted(v for v, _ in exp["sources"]))
            elif exp["state"] == "empty":
                check(f"{where}: fill command", got[0]["note"] == exp["fill"],
                      f"{got[0]['note']!r} != {exp['fill']!r}")


def explain(biqa, db, specs_dir, spec, r, k, exp, profile_name):
    row = rows_of(spec)[r][1]
    col = spec["columns"][k]
    out = subprocess.run([biqa, "--db", db, "tables", "--specs", specs_dir, "--profile",
                          profile_name, "--explain", spec["name"], row["id"], col["id"], "--json"],
                         capture_output=True, text=True)
    where = f"explain {spec['name']} [{row['id']}, {col['id']}]"
    if not check(f"{where}: exit 0", out.returncode == 0, out.stderr.strip()):
        return
    counts["explain"] += 1
    j = json.loads(out.stdout)
    runs = [(x["run_id"], x["split_hash"], x["config_hash"], x["git_commit"], x["split"])
            for x in j["runs"]]
    want = [(x[0], x[2] or "", x[3], x[4], x[5]) for x in exp["runs"]]
    check(f"{where}: the runs behind the cell", runs == want, f"{runs} != {want}")
    state = {"runs": "runs", "empty": "empty", "published": "published",
             "unreported": "unreported"}[exp["state"]]
    check(f"{where}: state", j["state"] == state, j["state"])
    if exp["state"] == "empty":
        check(f"{where}: fill", j.get("fill") == exp["fill"], j.get("fill", ""))


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: tables_vs_sql.py BIQA DB SRC [PROFILE]")
    biqa, db, src = sys.argv[1:4]
    profile_name = sys.argv[4] if len(sys.argv) > 4 else "demo"
    specs_dir = os.path.join(src, "paper", "tables")
    profile = json.loads(subprocess.run([biqa, "config", "show", "--profile", profile_name,
                                         "--json"], capture_output=True, text=True,
                                        check=True).stdout)["config"]
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    with tempfile.TemporaryDirectory() as out:
        for f in ("md", "latex", "csv"):
            r = subprocess.run([biqa, "--db", db, "tables", "--specs", specs_dir, "--profile",
                                profile_name, "--format", f, "--out", os.path.join(out, f)],
                               capture_output=True, text=True)
            check(f"biqa tables --format {f}: exit 0", r.returncode == 0, r.stderr.strip())
        for path in sorted(glob.glob(os.path.join(specs_dir, "*.json"))):
            with open(path) as f:
                spec = json.load(f)
            spec.setdefault("name", os.path.basename(path)[:-5])
            cells = expected_table(con, spec, profile_name, profile)
            for f, ext, parse, parse_cell in (("md", "md", parse_md, parse_md_cell),
                                               ("latex", "tex", parse_latex, parse_latex_cell)):
                p = os.path.join(out, f, f"{spec['name']}.{ext}")
                if check(f"{p} written", os.path.exists(p)):
                    with open(p) as fh:
                        rows, notes = parse(fh.read())
                    compare(f, spec, cells, rows, notes, parse_cell)
            p = os.path.join(out, "csv", f"{spec['name']}.csv")
            if check(f"{p} written", os.path.exists(p)):
                compare_csv(spec, cells, p)
            for r, line in enumerate(cells):
                for k, c in enumerate(line):
                    # every filled cell; the first column of empty and published rows
                    if c["state"] == "runs" or k == 0:
                        explain(biqa, db, specs_dir, spec, r, k, c, profile_name)
            if spec["name"] == "synthetic":  # --where over every cell: the runs of reproduce 1
                r = subprocess.run([biqa, "--db", db, "tables", "--specs", specs_dir, "--table",
                                    "synthetic", "--where", "group=1"], capture_output=True,
                                   text=True)
                check("tables --where group=1: exit 0", r.returncode == 0, r.stderr.strip())
                rows, notes = parse_md(r.stdout)
                compare("md", spec, expected_table(con, spec, profile_name, profile,
                                                   {"group": 1}), rows, notes, parse_md_cell)
    print(f"checked {counts['md']} Markdown cells ({counts['filled']} filled from runs), "
          f"{counts['latex']} LaTeX cells, {counts['csv']} CSV cells, {counts['explain']} "
          f"--explain answers")
    if failures:
        print(f"{len(failures)} checks failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
