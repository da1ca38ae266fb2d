"""Compares two biqa results stores by content, not by ids: the runs of a
grid run in one database against the same grid run through Slurm shards and
merged (tests/cli/test_merge.c, test_slurm.c). Python's own sqlite3, read-only.

A run is keyed by (kind, method, dataset, split_id, seed): one run per key in
a grid. Compared: every column except those that name this database or this
process (id, uid, parent_run, times, pid, boot id, the error text a resumed
run clears, the checkpoint's path and SHA-256: the file's metadata holds its
run id, and config_hash, whose config names the checkpoint), the config
without its downstream checkpoint path and SHA-256, the checkpoint's tensors
(every tensor's name, dtype, shape and bytes, metadata aside), the parent
run's key, every metrics row (values exactly) and every failure. Runs of
kind 'reproduce' (the umbrella) are left out; with --members the member keys
of each store's newest umbrella are compared instead. Run it in the
directory the stores' relative checkpoint paths start from.

usage: store_compare.py A.db B.db [--members]   exit 0 when equal, else 1 and the differences
"""
import hashlib
import json
import sqlite3
import struct
import sys

SKIP = {"id", "uid", "parent_run", "started_at", "ended_at", "pid", "boot_id", "proc_start",
        "checkpoint_path", "checkpoint_sha256", "config_hash", "error"}


def tensors(path):
    """SHA-256 of a safetensors file's tensors: the header without
    __metadata__, and the data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return hashlib.sha256(json.dumps(header, sort_keys=True).encode() + data).hexdigest()


def flat(value, prefix=""):
    """{"a.b": leaf} of nested dicts, to name the knobs that differ."""
    if not isinstance(value, dict):
        return {prefix: value}
    out = {}
    for k, v in value.items():
        out.update(flat(v, f"{prefix}.{k}" if prefix else k))
    return out


def key(r):
    return (r["kind"], r["method"], r["dataset"], r["split_id"], r["seed"])


def dump(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    rows = {r["id"]: r for r in db.execute("SELECT * FROM runs")}
    runs = {}
    for r in rows.values():
        if r["kind"] == "reproduce":
            continue
        k = key(r)
        if k in runs:
            sys.exit(f"{path}: two runs with the key {k}")
        content = {c: r[c] for c in r.keys() if c not in SKIP}
        config = json.loads(r["config_json"])
        config.get("downstream", {}).pop("checkpoint", None)
        config.get("downstream", {}).pop("checkpoint_sha256", None)
        content["config_json"] = flat(config)
        content["weights"] = tensors(r["checkpoint_path"]) if r["checkpoint_path"] else None
        content["parent"] = key(rows[r["parent_run"]]) if r["parent_run"] else None
        content["metrics"] = sorted(
            tuple(x) for x in db.execute(
                "SELECT dataset, split, metric, step, value, flags FROM metrics "
                "WHERE run_id = ?", (r["id"],)))
        content["failures"] = [tuple(x) for x in db.execute(
            "SELECT item, reason FROM run_failures WHERE run_id = ? ORDER BY rowid", (r["id"],))]
        runs[k] = content
    umbrella = db.execute("SELECT max(id) FROM runs WHERE kind = 'reproduce'").fetchone()[0]
    members = sorted(key(rows[m]) for (m,) in db.execute(
        "SELECT run_id FROM run_members WHERE group_run = ?", (umbrella,)))
    return runs, members


def main():
    a, b = sys.argv[1], sys.argv[2]
    runs_a, members_a = dump(a)
    runs_b, members_b = dump(b)
    diffs = []
    for k in sorted(set(runs_a) | set(runs_b), key=str):
        if k not in runs_a or k not in runs_b:
            diffs.append(f"run {k}: only in {a if k in runs_a else b}")
            continue
        for field in runs_a[k]:
            va, vb = runs_a[k][field], runs_b[k].get(field)
            if field == "config_json":
                va = {x: y for x, y in va.items() if vb.get(x) != y}
                vb = {x: vb[x] for x in vb if x in va or x not in runs_a[k][field]}
            if va != vb:
                diffs.append(f"run {k}: {field} differs:\n  {a}: {va}\n  {b}: {vb}")
    if "--members" in sys.argv[3:] and members_a != members_b:
        diffs.append(f"members of the newest reproduce run differ:\n  {a}: {members_a}\n"
                     f"  {b}: {members_b}")
    for d in diffs:
        print(d)
    print(f"{len(runs_a)} runs in {a}, {len(runs_b)} in {b}: "
          f"{'equal' if not diffs else f'{len(diffs)} differences'}")
    sys.exit(1 if diffs else 0)


main()
