"""Stage 1: the string CNN learns to regress Levenshtein distance on pairs of words (siamese)."""

from __future__ import annotations

import numpy as np
import torch

from wordspot.data.text import Alphabet, TextNorm
from wordspot.model.embedder import Embedder
from wordspot.training.losses import PairLoss, levenshtein_pairs
from wordspot.training.pairs import PairSampler
from wordspot.training.schedules import SCHEDULES
from wordspot.training.trainer import Stage, StageData, Trainer


def _model(trainer: Trainer, lexicon: list[str], resume: dict | None) -> Embedder:
    mcfg = trainer.cfg.model
    if resume:
        return Embedder.from_state(resume["model"], trainer.device)
    longest = max(map(len, lexicon))
    if longest > mcfg.max_len:
        trainer.rep.log(f"longest training word has {longest} symbols: max_len raised from {mcfg.max_len}")
        mcfg.max_len = longest + 8
    return Embedder(mcfg, Alphabet.from_words(lexicon), with_image=False, device=trainer.device)


def _validator(emb: Embedder, valid_words: list[str], lexicon: list[str], seed: int):
    """Fixed validation pairs, from the validation words when given (the same every step: comparable)."""
    val_lex = [w for w in (emb.norm(w) for w in valid_words) if w and not emb.alphabet.unknown(w)]
    va, vb = PairSampler(val_lex or lexicon, emb.alphabet.symbols, emb.config.max_len, seed=seed + 1).sample(2000)
    vlev = levenshtein_pairs(va, vb).numpy()

    def validate() -> dict:
        fa, fb = (emb.ranking.space(emb.embed_strings(v), images=False) for v in (va, vb))
        d = np.linalg.norm(fa - fb, axis=1)
        rmse = float(np.sqrt(np.mean((d - vlev) ** 2)))
        return {"val_rmse": rmse, "val_pearson": float(np.corrcoef(d, vlev)[0, 1]), "score": -rmse}
    return validate


def run(trainer: Trainer, emb: Embedder | None, data: StageData, resume: dict | None) -> Embedder:
    cfg, mcfg = trainer.cfg, trainer.cfg.model
    lexicon = [w for w in map(TextNorm(mcfg.lowercase, mcfg.alnum_only), data.words) if w]
    if not lexicon:
        raise ValueError("no training words left after normalisation")
    emb = _model(trainer, lexicon, resume)
    sampler = PairSampler(lexicon, emb.alphabet.symbols, emb.config.max_len, seed=cfg.seed)
    net, loss_fn = emb.string_net, PairLoss()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.string_lr)

    def loss_of(step: int) -> torch.Tensor:
        net.train()
        a, b = sampler.sample(cfg.string_batch)
        lev = levenshtein_pairs(a, b).to(trainer.device)
        fa, fb = net(emb.encode(a + b)).split(len(a))  # one pass for both sides of the siamese pair
        return loss_fn(fa, fb, lev)

    validate = _validator(emb, [s.text for s in data.valid or []], lexicon, cfg.seed)
    val_every = cfg.val_every or max(1, cfg.string_steps // 10)
    trainer.loop(Stage("string", opt, cfg.string_lr, cfg.string_steps, cfg.stage_minutes("string"), loss_of,
                       validate, val_every, sampler=sampler, schedule=SCHEDULES[cfg.string_schedule]), emb, resume)
    return Embedder.load(trainer.out / "string.pt", trainer.device)
