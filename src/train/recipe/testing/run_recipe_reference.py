"""Runs an exported recipe's training loop (whetstone_recipe.train, the part of train.py that holds
the studio's semantics) without transformers: the base model is the repository's own PyTorch
Llama (reference_model.py: per-row position_ids, the recipe's 4D attention bias, LoRA from the
recipe's initial_adapter/), base weights rounded through float16, float32 math as train.py's
--dtype studio. Prints one JSON object: {"history": [...]}.

    /usr/bin/python3 run_recipe_reference.py RECIPE_DIR MODEL_DIR [REPO_ROOT]
"""

import json
import os
import sys

import torch

recipe_dir, model_dir = sys.argv[1], sys.argv[2]
os.environ.setdefault("WHETSTONE_REPO", sys.argv[3] if len(sys.argv) > 3 else os.getcwd())
sys.path.insert(0, recipe_dir)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model as rm  # noqa: E402
import whetstone_recipe as wr  # noqa: E402

with open(os.path.join(recipe_dir, "job.json"), encoding="utf-8") as f:
    job = json.load(f)
cfg, w = rm.load_base(model_dir)
modules, lora, scale, _ = rm.load_adapter(os.path.join(recipe_dir, "initial_adapter"))
assert abs(scale - job["lora"]["scale"]) < 1e-12, (scale, job["lora"]["scale"])
# trainable tensors in the studio's order (model order, A then B), named as PEFT's named_parameters
params, names = [], []
for m in modules:
    params += list(lora[m])
    names += [f"base_model.model.{m}.lora_A.default.weight", f"base_model.model.{m}.lora_B.default.weight"]


def forward(batch):
    return rm.forward(cfg, w, lora, scale, batch["input_ids"], batch["position_ids"], batch["attention_bias"])


train_rows = wr.read_rows(os.path.join(recipe_dir, job["data"]["train_batches"]))
eval_rows = wr.read_rows(os.path.join(recipe_dir, job["data"]["eval_batches"])) if job["data"]["eval_batches"] else []
torch.manual_seed(job["seed"])
mb = int(os.environ.get("MICRO_BATCH", "0")) or None
resume_at = int(os.environ.get("RESUME_AT", "0"))
if not resume_at:
    history = wr.train(job, train_rows, eval_rows, forward, params, names=names, micro_batch_size=mb)
else:
    # stop after RESUME_AT steps, then continue in a fresh optimizer from the saved weights and
    # AdamW moments (what train.py --start checkpoint does with a studio checkpoint)
    opt = wr.make_optimizer(params, job, names)
    first = wr.train(job, train_rows, eval_rows, forward, params, names=names, micro_batch_size=mb, optimizer=opt, max_steps=resume_at)
    moments = [(opt.state[p]["exp_avg"].clone(), opt.state[p]["exp_avg_sq"].clone()) for p in params]
    opt2 = wr.make_optimizer(params, job, names)
    wr.load_optimizer_state(opt2, params, moments, resume_at)
    history = first + wr.train(job, train_rows, eval_rows, forward, params, names=names, micro_batch_size=mb, optimizer=opt2, start_step=resume_at)
print(json.dumps({"history": history}))
