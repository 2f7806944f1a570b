"""Writes a training checkpoint as a Hugging Face Llama folder (safetensors in f16).

    /usr/bin/python3 export.py --train /tmp/demo-train --out ../../models/demo/hf

The safetensors file is written by hand (an 8-byte little-endian header length, a JSON
header of name -> dtype/shape/offsets, then the raw tensors), so no extra package is needed.
The q8_0 GGUF is made from this folder by radixlm's own converter (`radixlm convert`).
"""
import argparse
import json
import os
import shutil
import struct

import torch

from data import SPECIALS


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F16" if t.dtype == torch.float16 else "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ck = torch.load(os.path.join(args.train, "ckpt.pt"), map_location="cpu")
    c = ck["config"]
    os.makedirs(args.out, exist_ok=True)
    tensors = sorted((("model." + k, v.to(torch.float16)) for k, v in ck["model"].items()), key=lambda kv: kv[0])
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors)
    eot, im_end = SPECIALS.index("<|endoftext|>"), SPECIALS.index("<|im_end|>")
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": c["vocab_size"], "hidden_size": c["hidden_size"], "intermediate_size": c["intermediate_size"],
        "num_hidden_layers": c["num_hidden_layers"], "num_attention_heads": c["num_attention_heads"],
        "num_key_value_heads": c["num_key_value_heads"], "head_dim": c["hidden_size"] // c["num_attention_heads"],
        "hidden_act": "silu", "max_position_embeddings": c["max_position_embeddings"], "rms_norm_eps": c["rms_norm_eps"],
        "rope_theta": c["rope_theta"], "rope_scaling": None, "attention_bias": False, "mlp_bias": False,
        "tie_word_embeddings": True, "bos_token_id": None, "eos_token_id": [im_end, eot], "torch_dtype": "float16",
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    # Greedy by default: sampled, the model sometimes opens a new turn (<|im_start|>) right away
    # on a prompt unlike its training chats ("Hi" without "!"), and the role name after that
    # control token shows up as text. Greedy never picks it there.
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": [im_end, eot], "pad_token_id": eot, "do_sample": False}, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(args.train, name), os.path.join(args.out, name))
    print(f"wrote {args.out}: step {ck['step']}, {ck['tokens']} tokens, "
          f"{sum(v.numel() for v in ck['model'].values())} parameters")


if __name__ == "__main__":
    main()
