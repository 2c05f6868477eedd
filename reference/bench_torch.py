"""PyTorch peer for Whetstone's training-speed benchmark: LoRA training steps per second.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 reference/bench_torch.py \
        --model smollm2-shape --layers 4 --seq 256 --batch 4 --rank 16 --steps 5 --warmup 2 --json
    python3 reference/bench_torch.py --device cuda --model qwen2.5-0.5b-shape --dtype bfloat16 --json

On --device cuda (the GPU kit's peer, scripts/gpu-kit-run.mjs): frozen weights are drawn on the GPU
(seeded; other values than the CPU's), LoRA parameters on the CPU as always; steps are timed between torch.cuda.synchronize() calls;
attention is F.scaled_dot_product_attention (is_causal) instead of the reference's explicit
softmax; --dtype bfloat16/float16 keeps the frozen base weights in that dtype and runs the step
under torch.autocast (LoRA parameters and AdamW state stay float32, as in PEFT's mixed precision).

Trains LoRA (rank --rank, alpha 2*rank, dropout 0) on every linear layer of every block
(q,k,v,o,gate,up,down) of a Llama-shaped model with random frozen float32 weights, in float32 on
the CPU with --threads threads (default 2). One step = forward, mean cross-entropy over
batch*seq tokens, backward, gradient clipping at 1.0, AdamW update. --warmup steps run first and
are not timed. Shapes:
- stories260k: hidden 64, intermediate 172, 8 heads, 4 kv heads, vocab 512, tied, 5 layers.
- smollm2-shape: SmolLM2-135M: hidden 576, intermediate 1536, 9 heads, 3 kv heads, vocab 49152,
  tied embeddings, 30 layers.
- qwen2.5-0.5b-shape: Qwen2.5-0.5B: hidden 896, intermediate 4864, 14 heads, 2 kv heads (head dim
  64), vocab 151936, tied embeddings, 24 layers, rope theta 1e6, without Qwen2's q/k/v biases
  (Whetstone's random model of that shape has none either). --layers overrides any shape's count.
Prints a summary, or with --json one JSON object: tokensPerSecond, msPerStep (mean of the timed
steps), msPerStepMedian, msPerStepMin, stepMs (each timed step) and the configuration.

Idle OpenMP threads spin by default and steal the (shared) cores from everything else, so the
script sets OMP_WAIT_POLICY=PASSIVE before importing torch unless it is already set; set it in the
shell too when you run other torch code.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede `import torch`

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import lora  # noqa: E402
from lib import transformer  # noqa: E402
from lib.transformer import llama_forward  # noqa: E402

SHAPES = {
    "stories260k": {"hidden_size": 64, "intermediate_size": 172, "num_attention_heads": 8,
                    "num_key_value_heads": 4, "vocab_size": 512, "num_hidden_layers": 5},
    "smollm2-shape": {"hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
                      "num_key_value_heads": 3, "vocab_size": 49152, "num_hidden_layers": 30},
    "qwen2.5-0.5b-shape": {"hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
                           "num_key_value_heads": 2, "vocab_size": 151936, "num_hidden_layers": 24,
                           "rope_theta": 1000000.0, "rms_norm_eps": 1e-6},
}

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def sdpa_attention(q, k, v):
    """transformer.attention's math (causal GQA, scale 1/sqrt(D)) through PyTorch's fused kernel."""
    rep = q.shape[2] // k.shape[2]
    qh = q.transpose(1, 2)
    kh = k.transpose(1, 2).repeat_interleave(rep, dim=1)
    vh = v.transpose(1, 2).repeat_interleave(rep, dim=1)
    return F.scaled_dot_product_attention(qh, kh, vh, is_causal=True).transpose(1, 2)


def build(shape, layers, rank, gen, wgen=None):
    """Random frozen weights (HF names, float32) and LoRA parameters for every linear layer. wgen:
    a generator on another device draws the frozen weights there (the CPU would take seconds per
    hundred million values); LoRA parameters always come from gen (CPU)."""
    wgen = wgen or gen
    cfg = dict({"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True}, **SHAPES[shape])
    if layers is not None:
        cfg["num_hidden_layers"] = layers
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = H // nh
    shapes = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
                       p + "self_attn.q_proj.weight": (nh * D, H), p + "self_attn.k_proj.weight": (nkv * D, H),
                       p + "self_attn.v_proj.weight": (nkv * D, H), p + "self_attn.o_proj.weight": (H, nh * D),
                       p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H),
                       p + "mlp.down_proj.weight": (H, I)})
    w = {}
    for name, s in shapes.items():
        if len(s) == 1:
            w[name] = torch.ones(s, device=wgen.device)
        else:
            w[name] = torch.randn(*s, generator=wgen, device=wgen.device) * (0.02 if "embed" in name else s[1] ** -0.5)  # HF init range
    params = {}
    for m in lora.llama_modules(cfg["num_hidden_layers"]):
        out_f, in_f = w[m + ".weight"].shape
        params[m] = (lora.init_a(gen, rank, in_f).requires_grad_(), torch.zeros(out_f, rank, requires_grad=True))
    return cfg, w, params


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(SHAPES), default="stories260k")
    ap.add_argument("--layers", type=int, default=None, help="layer count (default: the shape's own)")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                    help="frozen base weights (and autocast) dtype; LoRA and AdamW stay float32")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if args.steps < 1 or args.seq < 2 or args.batch < 1 or args.rank < 1 or args.warmup < 0:
        ap.error("need --steps >= 1, --seq >= 2, --batch >= 1, --rank >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch.cuda.is_available() is False (no CUDA GPU or driver for this torch)")
    dtype = DTYPES[args.dtype]
    if device.type == "cpu" and dtype != torch.float32:
        ap.error("--dtype other than float32 is for --device cuda")
    gen = torch.Generator().manual_seed(args.seed)
    wgen = torch.Generator(device).manual_seed(args.seed) if device.type != "cpu" else None
    cfg, w, params = build(args.model, args.layers, args.rank, gen, wgen)
    if device.type != "cpu":
        # the reference's helpers make their own tensors (RoPE angles, masks) on the default device
        w = {k: v.to(device=device, dtype=dtype) for k, v in w.items()}
        params = {m: (A.detach().to(device).requires_grad_(), B.detach().to(device).requires_grad_()) for m, (A, B) in params.items()}
        torch.set_default_device(device)
        transformer.attention = sdpa_attention
    scale = 2.0  # alpha = 2 * rank
    lo = {m: (A, B, scale) for m, (A, B) in params.items()}
    flat = [p for ab in params.values() for p in ab]
    opt = torch.optim.AdamW(flat, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    V = cfg["vocab_size"]
    tokens = torch.randint(0, V, (args.batch, args.seq + 1), generator=gen, device="cpu").to(device)
    x, y = tokens[:, :-1], tokens[:, 1:]
    autocast = dtype != torch.float32

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        with torch.autocast(device.type, dtype=dtype) if autocast else contextlib.nullcontext():
            logits = llama_forward(w, cfg, x, lora=lo)
            loss = F.cross_entropy(logits.reshape(-1, V).float(), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flat, 1.0)
        opt.step()
        return float(loss)

    for _ in range(args.warmup):
        step()
    sync()
    times, loss = [], None
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()  # float(loss) waits for the step's GPU work; sync() for the optimizer's
        sync()
        times.append((time.perf_counter() - t0) * 1000.0)

    tokens_per_step = args.batch * args.seq
    mean_ms = sum(times) / len(times)
    result = {
        "peer": f"pytorch-{device.type}", "torchVersion": torch.__version__, "threads": torch.get_num_threads(),
        "device": str(device), "deviceName": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "attention": "sdpa" if device.type != "cpu" else "reference",
        "peakMemoryBytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
        "ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY"), "model": args.model,
        "layers": cfg["num_hidden_layers"], "hidden": cfg["hidden_size"], "intermediate": cfg["intermediate_size"],
        "heads": cfg["num_attention_heads"], "kvHeads": cfg["num_key_value_heads"], "vocab": V,
        "seq": args.seq, "batch": args.batch, "rank": args.rank, "alpha": 2 * args.rank, "dtype": args.dtype,
        "steps": args.steps, "warmup": args.warmup, "tokensPerStep": tokens_per_step,
        "baseParams": sum(t.numel() for t in w.values()), "trainableParams": sum(p.numel() for p in flat),
        "msPerStep": mean_ms, "msPerStepMedian": statistics.median(times), "msPerStepMin": min(times),
        "stepMs": times, "tokensPerSecond": tokens_per_step * 1000.0 / mean_ms, "lastLoss": loss,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model}: {result['layers']} layers, batch {args.batch} x seq {args.seq}, LoRA r={args.rank} "
              f"({result['trainableParams']} trainable), {args.dtype} on {device}, {result['threads']} threads")
        print(f"  {mean_ms:.1f} ms/step (median {result['msPerStepMedian']:.1f}, min {min(times):.1f}), "
              f"{result['tokensPerSecond']:.0f} tokens/s over {args.steps} steps after {args.warmup} warmup")


if __name__ == "__main__":
    main()
