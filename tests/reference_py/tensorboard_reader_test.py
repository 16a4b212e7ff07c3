#!/usr/bin/env python3
"""TensorBoard's own reader against a real training run's event file.

Trains a tiny job (`moe-worker train --metrics-file m.jsonl`, MOE_PEAK_FLOPS set so that every
metric of common/step_metrics.h is measured) and reads <output_dir>/tensorboard/ with
tensorboard.backend.event_processing.event_accumulator.EventAccumulator, the class TensorBoard
itself uses. Expected scalars are derived from the JSON lines and the kStepMetrics table parsed
out of common/step_metrics.h, never from the event file:
  - a run-scope row:   tag <tensorboard>,                 value line[<key>]
  - a layer-scope row: tag moe/layer_<l>/<tensorboard>,   value line.layers[i][<key>]
  - moe/layer_<l>/expert_<e>_share from layers[i].expert_share[e]
  - train/epoch, train/global_step from line.epoch, line.step
  - train/epoch_loss: the mean of the losses reported since the previous one, at the last step
    of an epoch or of the run (worker/report/tensorboard_progress.h)
  - checkpoint/save_seconds and checkpoint/stall_seconds from each checkpoint line's seconds and
    stall_seconds
The scalar tag set must equal the expected set (no extra, none missing) and each tag's
(step, value) list must equal the expected one with the value rounded to float32 (what the
event file stores) compared exactly. Also: the file's version, wall times (Unix seconds inside
the run, non-decreasing in file order, increasing with the step of each tag), one event file.

  tensorboard_reader_test.py --worker PATH/moe-worker --root SOURCE_DIR [--keep]

Exit 0 with a one-line summary; 1 with messages naming tag/step/key on a mismatch; 77 (SKIP)
when the tensorboard package is missing.
"""
import argparse
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_job import write_tiny_job  # noqa: E402

SKIP = 77

try:
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.backend.event_processing import event_file_loader
except ImportError as error:  # e.g. a GPU machine's venv without it
    print("SKIP: tensorboard is not importable: %s" % error)
    sys.exit(SKIP)


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


# --- common/step_metrics.h -----------------------------------------------------------------

def cpp_tokens(text):
    """C++ tokens of an initializer: string literals (adjacent ones joined), punctuation,
    identifiers/numbers; comments dropped."""
    tokens, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("//", i):
            i = text.index("\n", i)
        elif c == '"':
            j, value = i + 1, []
            while text[j] != '"':
                if text[j] == "\\":
                    value.append(text[j + 1])
                    j += 2
                else:
                    value.append(text[j])
                    j += 1
            literal = "".join(value)
            if tokens and tokens[-1][0] == "str":  # "a" "b" is one literal
                tokens[-1] = ("str", tokens[-1][1] + literal)
            else:
                tokens.append(("str", literal))
            i = j + 1
        elif c in "{},":
            tokens.append(("punct", c))
            i += 1
        else:
            m = re.compile(r"[A-Za-z0-9_:.+\-]+").match(text, i)
            if not m:
                raise ValueError("step_metrics.h: unexpected %r" % text[i:i + 20])
            tokens.append(("word", m.group()))
            i = m.end()
    return tokens


def parse_step_metrics(header_path):
    """[(id, scope, key, tensorboard)] of kStepMetrics, checked against the enum's length."""
    text = open(header_path).read()
    enum = re.search(r"enum StepMetric : int \{(.*?)\};", text, re.S)
    table = re.search(r"kStepMetrics = \{\{(.*?)\}\};", text, re.S)
    if not enum or not table:
        fail("%s: no `enum StepMetric` or `kStepMetrics = {{...}};` found" % header_path)
    ids = [name.strip() for name in enum.group(1).split(",") if name.strip()]
    if ids[-1] != "kStepMetricCount":
        fail("%s: enum StepMetric does not end in kStepMetricCount" % header_path)
    ids = ids[:-1]
    rows, depth, fields = [], 0, []
    for kind, value in cpp_tokens(table.group(1)):
        if (kind, value) == ("punct", "{"):
            depth += 1
            fields = [[]]
        elif (kind, value) == ("punct", "}"):
            depth -= 1
            rows.append([f for f in fields if f])
        elif depth == 1 and (kind, value) == ("punct", ","):
            fields.append([])
        elif depth == 1:
            fields[-1].append((kind, value))
    parsed = []
    for row in rows:
        # {id, scope, key, prometheus, help, tensorboard, [kind, start, factor, count]}
        if len(row) < 6 or any(row[i][0][0] != "str" for i in (2, 3, 4, 5)):
            fail("step_metrics.h: cannot read row %r" % row)
        scope = row[1][0][1].split("::")[-1]
        if scope not in ("kRun", "kLayer"):
            fail("step_metrics.h: row %s has scope %s" % (row[0][0][1], scope))
        parsed.append((row[0][0][1], scope, row[2][0][1], row[5][0][1]))
    if [p[0] for p in parsed] != ids:
        fail("step_metrics.h: parsed rows %s, the enum declares %s" % ([p[0] for p in parsed], ids))
    share = re.search(r'struct ExpertShareInfo \{\s*absl::string_view key = "([^"]+)"', text)
    if not share:
        fail("step_metrics.h: no ExpertShareInfo key")
    return parsed, share.group(1)


# --- the run ---------------------------------------------------------------------------------

def train(worker, root, work):
    out = os.path.join(work, "out")
    spec = write_tiny_job(os.path.join(work, "job.yaml"), root, out)
    metrics = os.path.join(work, "m.jsonl")
    env = dict(os.environ, MOE_PEAK_FLOPS="1e12")  # every metric measured (the MFU needs it)
    start = time.time()
    run = subprocess.run([worker, "train", "--spec", spec, "--metrics-file", metrics], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    end = time.time()
    if run.returncode != 0:
        fail("moe-worker train exited %d:\n%s" % (run.returncode, run.stdout[-4000:]))
    lines = [json.loads(line) for line in open(metrics) if line.strip()]
    return os.path.join(out, "tensorboard"), lines, start, end


# A step line's position (worker/report/json_lines_progress.cc), not metrics.
POSITION_KEYS = ("step", "total_steps", "batch", "total_batches", "epoch")


def f32(x):
    """x as the float32 an event file stores (round to nearest, as static_cast<float>)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def expected_scalars(lines, rows, share_key):
    """{tag: [(step, value)]} in report order, from the JSON lines."""
    expected = {}

    def put(tag, step, value, where):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            fail("%s: %r is not a number" % (where, value))
        expected.setdefault(tag, []).append((step, f32(float(value))))

    steps = [l for l in lines if l.get("event") == "step"]
    if not steps:
        fail("the metrics file has no step lines")
    # Every key of a step line is its position (step_metrics.h: progress, not metrics), the
    # expert shares, the layers, or a table row: a metric outside the table has no tag.
    run_keys = {key for _, scope, key, _ in rows if scope == "kRun"} | set(POSITION_KEYS)
    layer_keys = {key for _, scope, key, _ in rows if scope == "kLayer"} | {"layer", share_key}
    for line in steps:
        for key in sorted(set(line) - run_keys - {"event", share_key, "layers"}):
            fail("m.jsonl step %d: key %r is no row of kStepMetrics (no TensorBoard tag)" %
                 (line["step"], key))
        for layer in line.get("layers", []):
            for key in sorted(set(layer) - layer_keys):
                fail("m.jsonl step %d layers[layer=%s]: key %r is no layer row of kStepMetrics" %
                     (line["step"], layer.get("layer"), key))
    losses = []
    for n, line in enumerate(steps):
        step = line["step"]
        where = "m.jsonl step %d" % step
        put("train/epoch", step, line["epoch"], where + " key epoch")
        put("train/global_step", step, step, where + " key step")
        for _, scope, key, tag in rows:
            if scope != "kRun":
                continue
            # MOE_PEAK_FLOPS makes every metric measured: a missing key is a gap, not a skip.
            if key not in line:
                fail("%s: no key %r (table row, tag %s)" % (where, key, tag))
            put(tag, step, line[key], "%s key %s" % (where, key))
        if not line.get("layers"):
            fail("%s: no layers" % where)
        for layer in line["layers"]:
            prefix = "moe/layer_%d/" % layer["layer"]
            lwhere = "%s layers[layer=%d]" % (where, layer["layer"])
            for e, share in enumerate(layer[share_key]):
                put("%sexpert_%d_share" % (prefix, e), step, share, "%s key %s[%d]" % (lwhere, share_key, e))
            for _, scope, key, tag in rows:
                if scope != "kLayer":
                    continue
                if key not in layer:
                    fail("%s: no key %r (table row, tag %s)" % (lwhere, key, tag))
                put(prefix + tag, step, layer[key], "%s key %s" % (lwhere, key))
        losses.append(line["loss"])
        next_epoch = steps[n + 1]["epoch"] if n + 1 < len(steps) else None
        if step == line["total_steps"] or (next_epoch is not None and next_epoch != line["epoch"]):
            total = 0.0
            for loss in losses:  # summed in report order, as the writer does, in double
                total += loss
            put("train/epoch_loss", step, total / len(losses), where + " (mean of losses)")
            losses = []
    for line in lines:
        if line.get("event") == "checkpoint":
            put("checkpoint/save_seconds", line["step"], line["seconds"],
                "m.jsonl checkpoint step %d key seconds" % line["step"])
            put("checkpoint/stall_seconds", line["step"], line["stall_seconds"],
                "m.jsonl checkpoint step %d key stall_seconds" % line["step"])
    return expected


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", required=True)
    parser.add_argument("--root", required=True, help="the source tree")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    began = time.time()
    rows, share_key = parse_step_metrics(os.path.join(args.root, "common/step_metrics.h"))
    work = tempfile.mkdtemp(prefix="tensorboard_reader_test.")
    try:
        tb_dir, lines, start, end = train(args.worker, args.root, work)
        expected = expected_scalars(lines, rows, share_key)

        files = sorted(os.listdir(tb_dir))
        if len(files) != 1 or not files[0].startswith("events.out.tfevents."):
            fail("%s: expected one events.out.tfevents.* file, found %s" % (tb_dir, files))
        path = os.path.join(tb_dir, files[0])

        acc = event_accumulator.EventAccumulator(tb_dir, size_guidance={event_accumulator.SCALARS: 0})
        acc.Reload()
        if acc.file_version != 2.0:
            fail("%s: file_version %r, expected 2 (brain.Event:2)" % (path, acc.file_version))
        tags = acc.Tags()
        for kind, names in tags.items():
            if kind != "scalars" and names not in (False, [], {}, None):
                fail("%s: non-scalar %s %r" % (path, kind, names))
        got_tags = set(tags["scalars"])
        missing, extra = sorted(set(expected) - got_tags), sorted(got_tags - set(expected))
        if missing or extra:
            fail("%s: scalar tags differ: missing %s, unexpected %s" % (path, missing, extra))
        for tag in sorted(expected):
            events = acc.Scalars(tag)
            got = [(e.step, e.value) for e in events]
            want = expected[tag]
            if len(got) != len(want):
                fail("tag %s: steps %s, the metrics file has %s" %
                     (tag, [s for s, _ in got], [s for s, _ in want]))
            for (gs, gv), (ws, wv) in zip(got, want):
                if gs != ws or not same(gv, wv):
                    fail("tag %s step %d: event file (step %d, %r), metrics file float32 %r" %
                         (tag, ws, gs, gv, wv))
            walls = [e.wall_time for e in events]
            if any(b <= a for a, b in zip(walls, walls[1:])):
                fail("tag %s: wall times %s do not increase with the step" % (tag, walls))

        # File order, with TensorBoard's own loader: the version record first, then wall times
        # in Unix seconds within the run, never going back.
        raw = list(event_file_loader.EventFileLoader(path).Load())
        if not raw or raw[0].file_version != "brain.Event:2":
            fail("%s: first record is not file_version brain.Event:2: %r" % (path, raw[:1]))
        previous = 0.0
        for n, event in enumerate(raw):
            what = event.summary.value[0].tag if event.summary.value else "file_version"
            if not start - 1 <= event.wall_time <= end + 1:
                fail("%s record %d (%s): wall time %r outside the run [%r, %r]" %
                     (path, n, what, event.wall_time, start, end))
            if event.wall_time < previous:
                fail("%s record %d (%s): wall time %r before the previous record's %r" %
                     (path, n, what, event.wall_time, previous))
            previous = event.wall_time
        scalars = sum(len(v) for v in expected.values())
        if len(raw) != 1 + scalars:
            fail("%s: %d records, expected 1 + %d scalars" % (path, len(raw), scalars))

        print("PASS: tensorboard_reader_test: %d tags, %d scalars over %d steps equal the metrics "
              "file (float32); %d table rows; %.1f s" %
              (len(expected), scalars, len(expected["train/global_step"]), len(rows),
               time.time() - began))
    finally:
        if args.keep:
            print("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
