"""Trains the radixlm demo model (a small Llama) on CPU on the synthetic corpus of data.py.

    /usr/bin/python3 train.py --out /tmp/demo-train --minutes 65

Writes to --out: tokenizer.json, tokenizer_config.json, heldout.txt, config.json (the shape),
loss.csv (step, seconds, tokens, lr, train loss, held-out loss) and ckpt.pt (saved every few
minutes and at the end). The learning rate follows the wall clock: warm-up, then cosine decay
to the end of the time budget, so a run of any length ends annealed.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import bpe
from data import documents, edit_documents, EditGen

SHAPE = {
    "vocab_size": 4096, "hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 6,
    "num_attention_heads": 8, "num_key_value_heads": 4, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "max_position_embeddings": 512,
}


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim, length, theta):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    f = torch.outer(torch.arange(length, dtype=torch.float32), inv)
    emb = torch.cat([f, f], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    """One HF LlamaDecoderLayer: the parameter names match HF's, so export is a rename-free dump."""

    def __init__(self, c):
        super().__init__()
        d, hd = c["hidden_size"], c["hidden_size"] // c["num_attention_heads"]
        self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], hd
        self.input_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.self_attn = nn.Module()
        self.self_attn.q_proj = nn.Linear(d, self.nh * hd, bias=False)
        self.self_attn.k_proj = nn.Linear(d, self.nkv * hd, bias=False)
        self.self_attn.v_proj = nn.Linear(d, self.nkv * hd, bias=False)
        self.self_attn.o_proj = nn.Linear(self.nh * hd, d, bias=False)
        self.mlp = nn.Module()
        self.mlp.gate_proj = nn.Linear(d, c["intermediate_size"], bias=False)
        self.mlp.up_proj = nn.Linear(d, c["intermediate_size"], bias=False)
        self.mlp.down_proj = nn.Linear(c["intermediate_size"], d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        a = self.self_attn
        h = self.input_layernorm(x)
        q = a.q_proj(h).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = a.k_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = a.v_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        y = att.softmax(-1) @ v
        x = x + a.o_proj(y.transpose(1, 2).reshape(B, T, -1))
        h = self.post_attention_layernorm(x)
        m = self.mlp
        return x + m.down_proj(F.silu(m.gate_proj(h)) * m.up_proj(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Block(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        hd = c["hidden_size"] // c["num_attention_heads"]
        cos, sin = rope_tables(hd, c["max_position_embeddings"], c["rope_theta"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c["num_hidden_layers"]) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                nn.init.normal_(p, std=std)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.embed_tokens(ids)
        cos, sin = self.cos[:T], self.sin[:T]
        mask = torch.full((T, T), float("-inf")).triu(1)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        # Tied embeddings: the output head is the embedding matrix.
        return self.norm(x) @ self.embed_tokens.weight.t()


def lr_at(frac, peak, floor, warm):
    if frac < warm:
        return peak * frac / warm
    p = min(1.0, (frac - warm) / (1 - warm))
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * p))


def heldout_loss(model, ids, seq):
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(ids) - 1, seq):
            chunk = ids[s:s + seq + 1]
            if len(chunk) < 2:
                break
            logits = model(chunk[:-1].unsqueeze(0))
            total += F.cross_entropy(logits[0], chunk[1:], reduction="sum").item()
            n += len(chunk) - 1
    model.train()
    return total / n


def load_init(folder):
    """The tokenizer and f16 weights of an exported model (export.py's folder), to train on from there."""
    with open(os.path.join(folder, "tokenizer.json")) as f:
        merges = [tuple(m) for m in json.load(f)["model"]["merges"]]
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    state = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F16", name
        a, b = t["data_offsets"]
        buf = bytearray(raw[8 + n + a:8 + n + b])
        state[name.removeprefix("model.")] = torch.frombuffer(buf, dtype=torch.float16).reshape(t["shape"]).float()
    return merges, state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=65)
    ap.add_argument("--docs", type=int, default=80000)
    ap.add_argument("--heldout-docs", type=int, default=40)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--init", help="go on from this exported model (its tokenizer and weights) instead of from scratch")
    ap.add_argument("--edit-share", type=float, default=0.0, help="share of each batch that is edit chats (data.py)")
    ap.add_argument("--edit-docs", type=int, default=20000)
    ap.add_argument("--edit-noise", type=float, default=0.0, help="share of edit texts with random words put in (data.py EditGen.noisy)")
    ap.add_argument("--copy-rows", type=int, default=0, help="rows per batch packed with short copy chats (random words repeated), loss on the replies")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    docs = documents(1, args.docs)
    held = "".join(documents(2, args.heldout_docs))
    init = load_init(args.init) if args.init else None
    merges = init[0] if init else bpe.train(docs[:20000], SHAPE["vocab_size"])
    enc = bpe.Encoder(merges)
    bpe.save(enc, args.out)
    c = dict(SHAPE, vocab_size=len(enc.vocab))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(args.out, "heldout.txt"), "w") as f:
        f.write(held)
    stream = torch.tensor([t for d in docs for t in enc.encode(d)], dtype=torch.long)
    held_ids = torch.tensor(enc.encode(held), dtype=torch.long)
    # Edit chats start their rows: the reply copies a text that must be in the window.
    edits = [enc.encode(d) for d in edit_documents(1, args.edit_docs, args.edit_noise)] if args.edit_share > 0 else []
    edits = [e for e in edits if len(e) <= args.seq + 1]
    # Each edit row is one chat, its loss on the reply alone: the copy is what it teaches.
    im_start = enc.vocab["<|im_start|>"]
    reply_at = [max(i for i, t in enumerate(e) if t == im_start) + 2 for e in edits]
    # Copy chats of random words: nothing but copying predicts their replies, so they teach it.
    copy_gen = EditGen(4)
    copies = [enc.encode(copy_gen.copy(short=True)) for _ in range(20000 if args.copy_rows > 0 else 0)]
    copy_reply_at = [max(i for i, t in enumerate(e) if t == im_start) + 2 for e in copies]
    held_edits = torch.tensor([t for d in edit_documents(3, 20) for t in enc.encode(d)], dtype=torch.long)
    print(f"vocab {len(enc.vocab)}, corpus {len(stream)} tokens, edits {len(edits)} ({sum(map(len, edits))} tokens), "
          f"held-out {len(held_ids)} tokens, prep {time.time() - t0:.0f}s", flush=True)

    model = Llama(c)
    if init:
        model.load_state_dict(init[1])
    params = sum(p.numel() for p in model.parameters())
    print(f"params {params}", flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    budget = args.minutes * 60
    log = open(os.path.join(args.out, "loss.csv"), "w")
    log.write("step,seconds,tokens,lr,train_loss,heldout_loss\n")
    g = torch.Generator().manual_seed(1)
    start = time.time()
    last_ckpt = start
    step, tokens, smooth = 0, 0, None

    def save_ckpt():
        torch.save({"config": c, "model": model.state_dict(), "step": step, "tokens": tokens}, os.path.join(args.out, "ckpt.pt.tmp"))
        os.replace(os.path.join(args.out, "ckpt.pt.tmp"), os.path.join(args.out, "ckpt.pt"))

    while True:
        elapsed = time.time() - start
        if elapsed >= budget:
            break
        lr = lr_at(elapsed / budget, args.lr, args.lr / 10, 0.03)
        for grp in opt.param_groups:
            grp["lr"] = lr
        n_edit = round(args.batch * args.edit_share)
        starts = torch.randint(0, len(stream) - args.seq - 1, (args.batch - n_edit,), generator=g)
        rows = [stream[s:s + args.seq + 1] for s in starts.tolist()]
        targets = [r[1:] for r in rows]
        for i in torch.randint(0, len(edits), (n_edit,), generator=g).tolist():
            e = edits[i]
            row = torch.full((args.seq + 1,), enc.vocab["<|endoftext|>"], dtype=torch.long)
            row[:len(e)] = torch.tensor(e)
            t = torch.full((args.seq,), -100, dtype=torch.long)
            t[reply_at[i] - 1:len(e) - 1] = row[reply_at[i]:len(e)]
            rows.append(row)
            targets.append(t)
        for _ in range(args.copy_rows):
            row = torch.full((args.seq + 1,), enc.vocab["<|endoftext|>"], dtype=torch.long)
            t = torch.full((args.seq,), -100, dtype=torch.long)
            at = 0
            while True:
                i = int(torch.randint(0, len(copies), (1,), generator=g))
                e = copies[i]
                if at + len(e) > args.seq + 1:
                    break
                row[at:at + len(e)] = torch.tensor(e)
                t[at + copy_reply_at[i] - 1:at + len(e) - 1] = row[at + copy_reply_at[i]:at + len(e)]
                at += len(e)
            rows.append(row)
            targets.append(t)
        batch = torch.stack(rows)
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.stack(targets).reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += batch[:, :-1].numel()
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        held_l = ""
        if step % 50 == 0:
            held_l = f"{heldout_loss(model, held_ids, 256):.4f}"
            edit_l = f" edits {heldout_loss(model, held_edits, args.seq):.4f}" if len(edits) else ""
            print(f"step {step} {elapsed:.0f}s tokens {tokens} lr {lr:.2e} loss {smooth:.4f} held-out {held_l}{edit_l}", flush=True)
        log.write(f"{step},{elapsed:.1f},{tokens},{lr:.3e},{loss.item():.4f},{held_l}\n")
        log.flush()
        if time.time() - last_ckpt > 300:
            save_ckpt()
            last_ckpt = time.time()
    hl = heldout_loss(model, held_ids, 256)
    log.write(f"{step},{time.time() - start:.1f},{tokens},0,{smooth:.4f},{hl:.4f}\n")
    log.close()
    save_ckpt()
    print(f"done: {step} steps, {tokens} tokens, {time.time() - start:.0f}s, train loss {smooth:.4f}, "
          f"held-out loss {hl:.4f} (perplexity {math.exp(hl):.3f})", flush=True)


if __name__ == "__main__":
    main()
