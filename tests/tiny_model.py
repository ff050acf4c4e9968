"""A tiny randomly initialised Llama with a byte-level BPE tokenizer, built offline in ~10 s for real-vLLM
tests (../shared/VLLM_CPU.md): 2 layers, hidden 128, 4 heads of dim 32 (vLLM's CPU attention needs 32, 64,
80, ...), vocab ~1024, tied embeddings, float32 safetensors, ChatML template, fixed seed.

`python -m tests.tiny_model DIR` builds it into DIR (for trying `python run.py serve --model DIR`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _training_text() -> list[str]:
    """Standard-library sources: present on every machine, no download."""
    stdlib = Path(json.__file__).resolve().parent.parent
    return [str(path) for path in sorted(stdlib.glob("*.py"))[:60]]


def build_tiny_model(directory: Path, *, vocab_size: int = 1024, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train(_training_text(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                        pad_token="<pad>", unk_token=None)
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(directory)

    ids = {token: bpe.token_to_id(token) for token in SPECIAL_TOKENS}
    eos = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    config = LlamaConfig(
        vocab_size=bpe.get_vocab_size(), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, head_dim=32, max_position_embeddings=2048,
        tie_word_embeddings=True, bos_token_id=ids["<|endoftext|>"], eos_token_id=eos,
        pad_token_id=ids["<pad>"], torch_dtype="float32",
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(directory, safe_serialization=True)
    GenerationConfig(bos_token_id=ids["<|endoftext|>"], eos_token_id=eos, pad_token_id=ids["<pad>"]).save_pretrained(
        directory)
    return directory


if __name__ == "__main__":
    print(build_tiny_model(Path(sys.argv[1])))
