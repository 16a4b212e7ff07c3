"""The tiny training job the reference tests run with moe-worker: 1 MoE layer of 4 experts,
d_model 32, the demo tokenizer, 120 sample questions, 3 steps logged each. The same job as
tests/worker/worker_cli_test.cc's TrainLogsBothCountersAndExpertLoadThenEvalPrintsJson."""
import os


def write_tiny_job(path, root, output_dir, save_steps=0):
    """Writes the job's YAML to `path`, checkpoints under `output_dir` (also every
    `save_steps` steps when > 0); returns `path`."""
    checkpoint = "{output_dir: %s%s}" % (output_dir,
                                         ", save_steps: %d" % save_steps if save_steps else "")
    with open(path, "w") as f:
        f.write(
            "name: t\n"
            "model:\n  config: {d_model: 32, n_heads: 4, n_layers: 1, max_seq_len: 128}\n"
            "  tokenizer: %s\n"
            "  moe: {experts: [factual_lookup, numerical_reasoning, multi_hop_reasoning, "
            "commonsense_reasoning]}\n"
            "data: {train_file: %s, max_seq_len: 128, max_target_len: 32, max_samples: 120}\n"
            "training: {max_steps: 3, micro_batch_size: 2, grad_accumulation: 2}\n"
            "checkpoint: %s\n"
            "logging: {logging_steps: 1}\n" %
            (os.path.join(os.path.abspath(root), "assets/tiny-tokenizer/tokenizer.json"),
             os.path.join(os.path.abspath(root), "datasets/nq_sample.jsonl"), checkpoint))
    return path
