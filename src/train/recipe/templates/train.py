"""Train a Whetstone job on one or many GPUs with Hugging Face transformers + peft, launched by
accelerate (DDP or FSDP, any number of GPUs and nodes). Written by Whetstone's "Export for a
cluster"; the job is job.json next to this file, the data the studio rendered is in data/, the
adapter's starting weights in initial_adapter/. The training semantics (loss over tokens across
accumulation, schedule, clipping, AdamW, evaluation cadence) are in whetstone_recipe.py, which
needs only torch. See README.md for the commands and for what differs from the studio.

    accelerate launch --config_file accelerate_config.yaml train.py --out out
"""

import argparse
import json
import math
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import whetstone_recipe as wr  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--job", default=os.path.join(HERE, "job.json"), help="the job (default job.json next to this file)")
    p.add_argument("--out", default="out", help="where the adapter, checkpoints and metrics.json go")
    p.add_argument("--base-model", default=None, help="Hub repo id or local folder of the base model (default: job.json's)")
    p.add_argument("--revision", default=None, help="the base model's Hub revision (default: job.json's, else main)")
    p.add_argument("--dtype", default="studio", choices=["studio", "float32", "bfloat16", "float16"],
                   help="studio: weights rounded to float16 as the studio holds them, math in float32 (exact); "
                        "bfloat16 for large models (faster, about 1%% from the studio's losses)")
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="attention implementation (packing needs a 4D mask: sdpa or eager)")
    p.add_argument("--micro-batch-size", type=int, default=None, help="rows per forward on each GPU (default the studio's batch size; any value gives the same steps)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (e.g. 20 to compare with the studio)")
    p.add_argument("--start", default=None, choices=["initial", "checkpoint"], help="override job.json's start (initial adapter at step 0, or the studio checkpoint)")
    return p.parse_args()


def main():
    args = parse_args()
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM

    with open(args.job, encoding="utf-8") as f:
        job = json.load(f)
    root = os.path.dirname(os.path.abspath(args.job))
    accelerator = Accelerator()
    set_seed(job["seed"])
    log = accelerator.print

    base = args.base_model or job["base_model"]["repo_id"] or job["base_model"].get("local_path")
    if not base:
        sys.exit("job.json names no base model repo id: pass --base-model HUB_ID_OR_FOLDER (the model the studio trained on).")
    revision = args.revision or job["base_model"].get("revision") or None
    load_dtype = {"studio": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    config = AutoConfig.from_pretrained(base, revision=revision)
    # the studio applies no dropout in the base model (only LoRA's, from the adapter's config):
    # GPT-2's resid/embd/attn_pdrop and any *_dropout of the config are set to 0
    for key, value in list(config.to_dict().items()):
        if (key.endswith("dropout") or key.endswith("pdrop")) and isinstance(value, float) and value > 0:
            setattr(config, key, 0.0)
    model = AutoModelForCausalLM.from_pretrained(base, config=config, revision=revision, torch_dtype=load_dtype, attn_implementation=args.attn)
    if args.dtype == "studio":
        model = model.to(torch.float32)  # fp16-rounded weights, float32 math: the studio's numerics
    # Qwen2/Qwen3 carry a sliding_window they do not use unless use_sliding_window is on
    window = getattr(model.config, "sliding_window", None) if getattr(model.config, "use_sliding_window", True) else None
    if job["batch"]["pack"] and window and job["batch"]["seq_len"] > window:
        sys.exit(f"The job packs rows of {job['batch']['seq_len']} tokens but the model slides its attention over {window}: "
                 "the 4D packing mask would replace the window. Export the job with packing off or a sequence length <= the window.")
    if job["activation_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()

    start = args.start or job["start"]["from"]
    adapter_dir = os.path.join(root, job["start"]["adapter_dir"] if start == "checkpoint" else "initial_adapter")
    model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    log(f"base {base}; {len(params)} trainable tensors ({sum(p.numel() for p in params)} values) from {os.path.relpath(adapter_dir, root)}")

    start_step = 0
    moments = None
    if start == "checkpoint":
        start_step = job["start"]["step"]
        moments = load_moments(os.path.join(root, job["start"]["optimizer_state"]), named)
    # the model first (FSDP wraps it), then the optimizer over the parameters it trains
    model = accelerator.prepare(model)
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in trained]
    optimizer = wr.make_optimizer(params, job, [n for n, _ in trained])
    if moments is not None:
        # the studio's AdamW moments (DDP: every process holds whole tensors; FSDP shards them and is refused here)
        wr.load_optimizer_state(optimizer, params, moments, start_step)
    optimizer = accelerator.prepare(optimizer)

    train_rows = wr.read_rows(os.path.join(root, job["data"]["train_batches"]))
    eval_rows = wr.read_rows(os.path.join(root, job["data"]["eval_batches"])) if job["data"].get("eval_batches") else []

    def forward(batch):
        out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                    attention_mask=batch["attention_bias"].to(next(model.parameters()).dtype))
        return out.logits

    def clip(ps, max_norm):
        # every parameter of the prepared model (frozen ones have no gradient): under FSDP accelerate
        # then uses the sharded model's own clip_grad_norm_, so the norm is the global one
        return float(accelerator.clip_grad_norm_(list(model.parameters()), max_norm if max_norm > 0 else math.inf))

    studio = {p["step"]: p for p in job.get("studio_history", [])}
    os.makedirs(args.out, exist_ok=True)
    history = []
    t0 = time.time()

    def on_step(point):
        history.append(point)
        ref = studio.get(point["step"])
        cmp = f" (studio {ref['loss']:.4f}, {100 * (point['loss'] - ref['loss']) / ref['loss']:+.2f}%)" if ref else ""
        val = f" val {point['val_loss']:.4f}" if "val_loss" in point else ""
        log(f"step {point['step']}/{job['schedule']['total_steps']} loss {point['loss']:.4f}{cmp}{val} lr {point['lr']:.3e} "
            f"grad norm {point['grad_norm']:.4f} ({time.time() - t0:.0f} s)")
        every = job["checkpoint_every"]
        if every > 0 and point["step"] % every == 0:
            save(accelerator, model, os.path.join(args.out, f"checkpoint-{point['step']}"))

    try:
        wr.train(job, train_rows, eval_rows, forward, params, rank=accelerator.process_index, world=accelerator.num_processes,
                 device=accelerator.device, backward=accelerator.backward,
                 reduce_sum=lambda t: accelerator.reduce(t, reduction="sum"), clip=clip, optimizer=optimizer,
                 start_step=start_step, max_steps=args.max_steps, micro_batch_size=args.micro_batch_size, on_step=on_step,
                 model_mode=lambda training: model.train(training))
    except wr.NonFiniteStep as e:
        log(str(e))
        write_metrics(accelerator, args.out, job, history, base, status="nonfinite")
        sys.exit(1)
    save(accelerator, model, os.path.join(args.out, "adapter"))
    write_metrics(accelerator, args.out, job, history, base, status="finished")
    log(f"wrote {os.path.join(args.out, 'adapter')} (adapter_model.safetensors + adapter_config.json): import it in the studio's Export panel")


def load_moments(path, named):
    """AdamW moments from the studio (safetensors, keyed by PEFT name + .exp_avg / .exp_avg_sq)."""
    from safetensors.torch import load_file

    state = load_file(path)
    out = []
    for name, _ in named:
        key = name.replace(".default.", ".")
        if f"{key}.exp_avg" not in state:
            raise SystemExit(f"{path} has no optimizer state for {key}: was the job exported for another adapter?")
        out.append((state[f"{key}.exp_avg"], state[f"{key}.exp_avg_sq"]))
    return out


def save(accelerator, model, path):
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.save_pretrained(path, is_main_process=accelerator.is_main_process, save_function=accelerator.save,
                              state_dict=accelerator.get_state_dict(model))


def write_metrics(accelerator, out, job, history, base, status):
    if not accelerator.is_main_process:
        return
    studio = {p["step"]: p["loss"] for p in job.get("studio_history", [])}
    diffs = [abs(h["loss"] - studio[h["step"]]) / abs(studio[h["step"]]) for h in history if h["step"] in studio and studio[h["step"]]]
    doc = {"status": status, "base_model": base, "processes": accelerator.num_processes, "steps": history,
           "max_relative_loss_difference_vs_studio": max(diffs) if diffs else None}
    with open(os.path.join(out, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)


if __name__ == "__main__":
    main()
