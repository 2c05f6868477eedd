"""The Whetstone studio's training semantics in plain PyTorch (no transformers, no peft, no
accelerate), so that they can be checked on any machine with torch and used by train.py on a
cluster. Everything here mirrors a named piece of the studio (src/train/trainer.ts, schedule.ts,
src/data/batches.ts, src/gpu/ops/crossEntropy.ref.ts, adamw.ts, gradNorm.ts):

- lr_at: the learning rate of optimizer step `step` (0-based): linear warm-up from 0, then
  constant, linear decay to 0, or cosine decay to 0 (transformers' get_*_schedule_with_warmup).
- Rows: data/train_batches.jsonl holds every row the studio's trainer sees, in order: `step`
  (1-based optimizer step), `micro` (micro-batch within the step), `input_ids`, `labels`
  (Hugging Face convention: labels[t] is the token at t, -100 where not trained; the model's
  output at t - 1 predicts it), `position_ids` (restart at 0 for every packed example),
  `attention_mask` (0 on padding) and, only where the studio trains the last position of a row on
  the token after it (an example cut at the row's end), `label_after_row`.
- attention_bias: attention stays within each packed example (block-diagonal causal mask).
- The loss of a step is the sum over every trained token of all its micro-batches of the
  (label-smoothed) cross-entropy, divided by the number of trained tokens of the whole step: not
  the mean of per-micro-batch means. The same for the gradients.
- Gradients: the global L2 norm over all trainable tensors; clipped by min(1, max/(norm + 1e-6))
  when max_grad_norm > 0 (torch.nn.utils.clip_grad_norm_); a non-finite norm stops the run
  without applying the step, as the studio does.
- torch.optim.AdamW with the job's betas, eps and (decoupled) weight decay on every LoRA tensor;
  with LoRA+ the lora_B tensors take ratio x the learning rate (weight decay coefficient unchanged).
- Validation: every `eval.every` steps and after the last, the mean cross-entropy (no label
  smoothing) over data/eval_batches.jsonl (the studio's first 8 validation batches).
"""

import json
import math

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
CLIP_EPS = 1e-6


def lr_at(step, base_lr, schedule, warmup_steps, total_steps):
    """The studio's learningRateAt (src/train/schedule.ts), step 0-based."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * step / warmup_steps
    if schedule == "constant":
        return base_lr
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    if schedule == "linear":
        return base_lr * max(0.0, 1.0 - progress)
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r} (constant, linear or cosine)")


def read_rows(path):
    """The rows of a batches JSONL file, in file order."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            row = json.loads(line)
            for key in ("input_ids", "labels", "position_ids", "attention_mask"):
                if key not in row:
                    raise ValueError(f"{path}:{n}: the row has no {key!r}")
            rows.append(row)
    return rows


def rows_by_step(rows):
    """{step: [rows of that step in order]} for training rows (each carries its 1-based step)."""
    steps = {}
    for row in rows:
        steps.setdefault(int(row["step"]), []).append(row)
    return steps


def shifted_targets(labels, label_after):
    """Per-position targets (B, T): targets[:, t] = labels[:, t + 1], the last from label_after (B)."""
    return torch.cat([labels[:, 1:], label_after[:, None]], dim=1)


def doc_ids(position_ids, attention_mask):
    """Which packed example each position belongs to (B, T): a new one starts where the position is
    0; padding (attention_mask 0) is -1."""
    starts = (position_ids == 0).to(torch.long)
    ids = torch.cumsum(starts, dim=1) - 1
    return torch.where(attention_mask.bool(), ids, torch.full_like(ids, -1))


def attention_bias(position_ids, attention_mask, dtype=torch.float32):
    """An additive (B, 1, T, T) mask: 0 where query t may attend key s (s <= t in the same packed
    example), the dtype's most negative value elsewhere. Padding attends to itself only, so no row
    is fully masked (its output is never trained)."""
    T = position_ids.shape[1]
    doc = doc_ids(position_ids, attention_mask)
    causal = torch.ones(T, T, dtype=torch.bool, device=position_ids.device).tril()
    same = (doc[:, :, None] == doc[:, None, :]) & (doc[:, :, None] >= 0)
    allowed = (same & causal[None]) | torch.eye(T, dtype=torch.bool, device=position_ids.device)[None]
    bias = torch.zeros(allowed.shape, dtype=dtype, device=position_ids.device)
    bias.masked_fill_(~allowed, torch.finfo(dtype).min)
    return bias[:, None]


def collate(rows, device=None):
    """Tensors of a list of rows (all the same length)."""
    def t(key):
        return torch.tensor([r[key] for r in rows], dtype=torch.long, device=device)

    out = {k: t(k) for k in ("input_ids", "labels", "position_ids", "attention_mask")}
    out["label_after"] = torch.tensor([int(r.get("label_after_row", IGNORE_INDEX)) for r in rows], dtype=torch.long, device=device)
    out["targets"] = shifted_targets(out["labels"], out["label_after"])
    return out


def counted_tokens(rows):
    """Trained tokens of a list of rows (the studio's trainedTokens, summed)."""
    n = 0
    for r in rows:
        n += sum(1 for x in r["labels"] if x != IGNORE_INDEX)
        n += 1 if int(r.get("label_after_row", IGNORE_INDEX)) != IGNORE_INDEX else 0
    return n


def loss_sum(logits, targets, label_smoothing=0.0):
    """Sum over trained positions of the (smoothed) cross-entropy, in float32: (1 - e) * nll +
    e * mean over the vocabulary of -log p (torch's label_smoothing; ignored positions add 0)."""
    V = logits.shape[-1]
    return F.cross_entropy(logits.float().reshape(-1, V), targets.reshape(-1), ignore_index=IGNORE_INDEX,
                           reduction="sum", label_smoothing=label_smoothing)


def rank_rows(step_rows, rank, world):
    """The rows of a step this process trains: every world-th, from its rank. The loss is a sum
    over tokens divided by the step's count, so any split of the rows gives the same step."""
    return step_rows[rank::world]


def chunks(rows, size):
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def chunks_per_rank(n_rows, world, size):
    """Micro-batches every process runs in a step (the same on all, so collectives stay in step)."""
    return max(1, math.ceil(math.ceil(n_rows / world) / size))


def global_norm(params):
    """The global L2 norm of the gradients, in float64 for the sum."""
    total = 0.0
    for p in params:
        if p.grad is not None:
            total += float(p.grad.detach().double().pow(2).sum())
    return math.sqrt(total)


def clip_gradients(params, max_grad_norm):
    """The norm before clipping; the gradients scaled by min(1, max/(norm + 1e-6)) when max > 0."""
    norm = global_norm(params)
    if max_grad_norm > 0 and math.isfinite(norm):
        coef = max_grad_norm / (norm + CLIP_EPS)
        if coef < 1:
            for p in params:
                if p.grad is not None:
                    p.grad.detach().mul_(coef)
    return norm


def make_optimizer(params, job, names=None):
    """torch AdamW over the LoRA tensors. LoRA+ (optimizer.lora_plus_ratio != 1): the lora_B
    tensors in a group whose learning rate is ratio x the step's (names tell A from B)."""
    o = job["optimizer"]
    ratio = o.get("lora_plus_ratio", 1)
    kw = dict(lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weight_decay"])
    if ratio == 1:
        return torch.optim.AdamW([{"params": list(params), "lr_scale": 1.0}], **kw)
    if names is None or len(names) != len(params):
        raise ValueError("LoRA+ needs the parameter names to tell lora_A from lora_B")
    a = [p for n, p in zip(names, params) if ".lora_B." not in n]
    b = [p for n, p in zip(names, params) if ".lora_B." in n]
    return torch.optim.AdamW([{"params": a, "lr_scale": 1.0}, {"params": b, "lr_scale": float(ratio)}], **kw)


class NonFiniteStep(RuntimeError):
    pass


def train(job, train_rows, eval_rows, forward, params, *, rank=0, world=1, device=None, backward=None,
          reduce_sum=None, clip=None, optimizer=None, start_step=0, max_steps=None, micro_batch_size=None,
          on_step=None, model_mode=None, names=None):
    """The studio's loop. forward(batch) -> logits (B, T, V) for a collated chunk that also has
    "attention_bias"; params: the trainable tensors (in the studio's order: per module A then B).
    With several processes (DDP), backward/reduce_sum/clip come from accelerate: DDP averages the
    gradients over processes, so each process's loss is multiplied by `world` to keep the sum.
    Returns the history: one dict per step (step, loss, lr, grad_norm, val_loss when evaluated)."""
    backward = backward or (lambda loss: loss.backward())
    reduce_sum = reduce_sum or (lambda t: t)
    clip = clip or clip_gradients
    model_mode = model_mode or (lambda training: None)
    b = job["batch"]
    size = micro_batch_size or b["batch_size"]
    total = job["schedule"]["total_steps"]
    last = total if max_steps is None else min(total, start_step + max_steps)
    smoothing = job["label_smoothing"]
    by_step = rows_by_step(train_rows)
    optimizer = optimizer or make_optimizer(params, job, names)
    history = []
    for step in range(start_step, last):
        step_rows = by_step.get(step + 1)
        if not step_rows:
            raise ValueError(f"data/train_batches.jsonl has no rows for step {step + 1}")
        counted = max(1, counted_tokens(step_rows))
        mine = rank_rows(step_rows, rank, world)
        n_chunks = chunks_per_rank(len(step_rows), world, size)
        parts = chunks(mine, size)
        model_mode(True)
        for p in params:
            p.grad = None
        loss_acc = torch.zeros((), dtype=torch.float64, device=device)
        for i in range(n_chunks):
            # a process with fewer rows than another runs the same number of passes: a repeated
            # row whose loss counts zero
            dummy = i >= len(parts)
            rows = parts[i] if not dummy else step_rows[:1]
            batch = collate(rows, device)
            batch["attention_bias"] = attention_bias(batch["position_ids"], batch["attention_mask"])
            logits = forward(batch)
            s = loss_sum(logits, batch["targets"], smoothing)
            if dummy:
                s = s * 0.0
            backward(s * (world / counted))
            loss_acc += s.detach().double()
        loss = float(reduce_sum(loss_acc)) / counted
        norm = float(clip(params, job["max_grad_norm"]))
        if not math.isfinite(norm) or not math.isfinite(loss):
            raise NonFiniteStep(
                f"The loss or the gradients became NaN/Inf at step {step + 1}; the step was not applied. "
                "Lower the learning rate (or turn on gradient clipping) and run again.")
        lr = lr_at(step, job["optimizer"]["lr"], job["schedule"]["name"], job["schedule"]["warmup_steps"], total)
        for g in optimizer.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)
        optimizer.step()
        point = {"step": step + 1, "loss": loss, "lr": lr, "grad_norm": norm}
        every = job["eval"]["every"]
        if every > 0 and eval_rows and ((step + 1) % every == 0 or step + 1 == total):
            model_mode(False)
            point["val_loss"] = evaluate(eval_rows, forward, size, rank=rank, world=world, device=device, reduce_sum=reduce_sum)
            model_mode(True)
        history.append(point)
        if on_step:
            on_step(point)
    return history


@torch.no_grad()
def evaluate(eval_rows, forward, size, rank=0, world=1, device=None, reduce_sum=None):
    """Mean cross-entropy (no smoothing) over every trained token of the evaluation rows."""
    reduce_sum = reduce_sum or (lambda t: t)
    counted = max(1, counted_tokens(eval_rows))
    mine = rank_rows(eval_rows, rank, world)
    acc = torch.zeros((), dtype=torch.float64, device=device)
    for rows in chunks(mine, size):
        batch = collate(rows, device)
        batch["attention_bias"] = attention_bias(batch["position_ids"], batch["attention_mask"])
        acc += loss_sum(forward(batch), batch["targets"], 0.0).double()
    return float(reduce_sum(acc)) / counted


def load_optimizer_state(optimizer, params, moments, step):
    """AdamW state from the studio's checkpoint: moments = [(exp_avg, exp_avg_sq)] in params order."""
    if len(moments) != len(params):
        raise ValueError(f"the optimizer state has {len(moments)} tensors for {len(params)} parameters")
    for p, (m, v) in zip(params, moments):
        if m.shape != p.shape or v.shape != p.shape:
            raise ValueError(f"optimizer state of shape {tuple(m.shape)} for a parameter of shape {tuple(p.shape)}")
        optimizer.state[p] = {"step": torch.tensor(float(step)), "exp_avg": m.to(p.device, p.dtype).clone(),
                              "exp_avg_sq": v.to(p.device, p.dtype).clone()}
