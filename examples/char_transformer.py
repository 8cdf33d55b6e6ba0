"""A small character-level transformer trained with @jit_grad on the Zen of Python (the text
that ships with every Python, in the `this` module): token and position embeddings, pre-norm
blocks of causal multi-head attention and a GELU MLP, AdamW with gradient clipping and a cosine
schedule. Prints a sample from the trained model and saves the loss curve.

    python examples/char_transformer.py [--steps 300] [--plot char_transformer_loss.png]
"""
import argparse
import codecs
import time

import numpy as np

import jitgrad as jg
from jitgrad import nn

F = nn.functional


def zen():
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False, is_causal=True)[0]
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    def __init__(self, vocab, context, d=64, heads=4, layers=2):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)
        for e in (self.tok, self.pos):          # small embeddings, as GPT-2 initialises them
            e.weight.data *= 0.02

    def forward(self, idx):
        x = self.tok(idx) + self.pos(np.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--context", type=int, default=32)
    ap.add_argument("--plot", default="char_transformer_loss.png", help="loss-curve PNG ('' for none)")
    args = ap.parse_args()

    text = zen()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], np.int64)
    jg.manual_seed(0)
    model = CharTransformer(len(chars), args.context)
    opt = jg.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = jg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps)

    @jg.jit_grad(argnums=())
    def loss_fn(x, y):
        logits = model(x)
        return F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))

    rng = np.random.default_rng(1)
    losses, t0 = [], time.perf_counter()
    for step in range(args.steps):
        start = rng.integers(0, len(data) - args.context - 1, args.batch)
        x = np.stack([data[s:s + args.context] for s in start])
        y = np.stack([data[s + 1:s + args.context + 1] for s in start])
        opt.zero_grad()
        loss, _ = loss_fn(x, y)
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss))
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {float(loss):.3f}")
    print(f"{args.steps} steps in {time.perf_counter() - t0:.1f} s; chance level is {np.log(len(chars)):.2f}")
    print("sample:", repr(sample(model, stoi, chars, "Beautiful is ", 80, args.context)))
    if args.plot:
        from train_digits_cnn import save_curve
        save_curve(losses, 1, args.plot, xlabel="step", title="char transformer on the Zen of Python, @jit_grad")


def sample(model, stoi, chars, prompt, n, context):
    """Greedy continuation (eager: one new length per character)."""
    idx = [stoi[c] for c in prompt]
    with jg.no_grad():
        for _ in range(n):
            logits = model(np.array([idx[-context:]]))
            idx.append(int(np.argmax(logits.numpy()[0, -1])))
    return "".join(chars[i] for i in idx)


if __name__ == "__main__":
    main()
