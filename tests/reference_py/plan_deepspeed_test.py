#!/usr/bin/env python3
"""The memory plan's model-state bytes against DeepSpeed's ZeRO-2 estimator (issue 18).

For MPT-7B's shapes, dense and upcycled into 4 experts on every layer, on 1, 2 and 8 GPUs of
one node, with the optimizer on the GPU and offloaded to the CPU, `moectl plan --output json`
is compared with deepspeed.runtime.zero.stage_1_and_2.estimate_zero2_model_states_mem_needs
(DeepSpeed's own function, imported, not copied) where the two count the same things:

  GPU, no offload: DeepSpeed counts 2N (bf16 parameters) + 18N/G (2 bytes of a bf16 gradient
    partition, 4 of the fp32 gradient partition, 12 of fp32 master weights and moments). We
    accumulate gradients straight into the fp32 partition, so our parameters + gradients +
    optimizer must equal theirs minus the 2N/G bf16 gradient partition.
  GPU, offload: both count the bf16 parameters only: equal.
  CPU, offload: DeepSpeed counts N x max(4G, 16) x 1.5 (a buffer factor) per node; for G <= 4
    that is the 16N of fp32 gradient, master weights and moments, which our ranks' offloaded
    optimizer terms must sum to. For G > 4 it counts 4N per GPU (each process's fp32 copy of
    the model while loading), which we never make: ours stays 16N.

The parameter count itself is checked against transformers' MptForCausalLM built on the meta
device (dense mpt-7b). Our padding of the flat buffer to a multiple of 2G elements is allowed
for. Exit 0: all agree; 1: a difference (printed); 77: deepspeed or transformers is missing.

  plan_deepspeed_test.py --moectl build/client/moectl --root .
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77
MPT_7B = {"d_model": 4096, "n_heads": 32, "n_layers": 32, "expansion_ratio": 4,
          "max_seq_len": 2048, "vocab_size": 50432}
EXPERTS = ["factual_lookup", "numerical_reasoning", "multi_hop_reasoning",
           "commonsense_reasoning"]


def spec_yaml(root, experts, offload):
    moe = f"  moe: {{experts: [{', '.join(experts)}]}}\n" if experts else ""
    return (
        "name: mpt7b-shapes\n"
        "model:\n"
        f"  config: {json.dumps(MPT_7B)}\n"
        f"  tokenizer: {root}/assets/tiny-tokenizer/tokenizer.json\n"
        "  precision: bf16\n"
        "  activation_checkpointing: true\n"
        f"{moe}"
        f"data: {{train_file: {root}/datasets/nq_sample.jsonl, max_seq_len: 256}}\n"
        "training: {micro_batch_size: 4, grad_accumulation: 4}\n"
        f"zero: {{stage: 2{', offload_optimizer: cpu' if offload else ''}}}\n"
        "resources: {device: cuda, world_size: 2}\n")


def plan(moectl, spec_path, gpus):
    out = subprocess.run([moectl, "--output", "json", "plan", spec_path, "--gpus", str(gpus)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"moectl plan failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moectl", required=True)
    parser.add_argument("--root", required=True)
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import torch
            import transformers
            from deepspeed.runtime.zero.stage_1_and_2 import \
                estimate_zero2_model_states_mem_needs as deepspeed_estimate
    except ImportError as e:
        print(f"SKIP: {e.name or e} is not installed in {sys.executable}")
        return SKIP

    failures = []
    # The dense count against transformers' own model.
    config = transformers.MptConfig(d_model=4096, n_heads=32, n_layers=32, expansion_ratio=4,
                                    max_seq_len=2048, vocab_size=50432)
    with torch.device("meta"):
        hf_params = sum(p.numel() for p in transformers.MptForCausalLM(config).parameters())

    with tempfile.TemporaryDirectory() as tmp:
        for experts in ([], EXPERTS):
            for offload in (False, True):
                spec_path = os.path.join(tmp, f"spec-{len(experts)}-{offload}.yaml")
                with open(spec_path, "w") as f:
                    f.write(spec_yaml(root, experts, offload))
                for gpus in (1, 2, 8):
                    ours = plan(args.moectl, spec_path, gpus)
                    n = ours["parameters"]
                    rank = ours["per_rank"]
                    pad = 2 * gpus  # elements the flat buffer may add
                    cpu_ds, gpu_ds = deepspeed_estimate(n, num_gpus_per_node=gpus, num_nodes=1,
                                                        cpu_offload=offload,
                                                        additional_buffer_factor=1.5)
                    name = (f"{'MoE x4' if experts else 'dense'}, {gpus} GPU(s), "
                            f"{'offload' if offload else 'on GPU'}")
                    if not experts and n != hf_params:
                        failures.append(f"{name}: {n} parameters, transformers counts {hf_params}")
                    states = rank["parameters"] + rank["gradients"] + rank["optimizer"]
                    if offload:
                        expected_gpu = gpu_ds
                        expected_host = 16 * n
                        host = rank["host_optimizer"] * gpus
                        ds_host = cpu_ds / 1.5
                    else:
                        expected_gpu = gpu_ds - 2 * n // gpus
                        expected_host = host = ds_host = 0
                    print(f"{name}: N = {n:,}; GPU model states ours {states / 1e9:.3f} GB, "
                          f"DeepSpeed {gpu_ds / 1e9:.3f} GB; CPU ours {host / 1e9:.3f} GB, "
                          f"DeepSpeed {cpu_ds / 1e9:.3f} GB (/1.5 = {ds_host / 1e9:.3f})")
                    if abs(states - expected_gpu) > 18 * pad:
                        failures.append(f"{name}: GPU model states {states}, expected "
                                        f"{expected_gpu} from DeepSpeed's {gpu_ds}")
                    if offload and abs(host - expected_host) > 16 * pad * gpus:
                        failures.append(f"{name}: offloaded state {host}, expected {expected_host}")
                    if offload and gpus <= 4 and abs(host - ds_host) > 16 * pad * gpus + 2:
                        failures.append(f"{name}: offloaded state {host}, DeepSpeed's / 1.5 is "
                                        f"{ds_host}")
                    if offload and gpus > 4 and ds_host != max(4 * gpus, 16) * n:
                        failures.append(f"{name}: DeepSpeed's CPU term changed: {cpu_ds}")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
