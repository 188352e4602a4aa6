"""Empathy cause identification (Bandera, Lee & Parde): which post sentences made a replier empathetic.

Sentence embeddings are contextual: the post (and the reply) is encoded whole and each sentence is the mean
of its tokens (the paper's "dynamic sentence embeddings" with mean pooling). A co-attention layer lets each
post sentence attend over the reply's sentences; [p, c, p⊙c] goes through dropout and a linear classifier.
The `simple` variant (the paper's "simpler model") concatenates each post sentence with the mean reply
sentence instead. The encoder is frozen here (`lora_r: -1` by default) so embeddings can be computed once
and the head trained in minutes on a CPU; LoRA adapters are an option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from emocause.data.schema import Turn
from emocause.models.encoder import AdaptedEncoder, EncoderConfig, TrainedModel
from emocause.models.words import WordInput, encode_words


@dataclass
class EmpathyCauseConfig:
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(max_length=256, lora_r=-1))
    attention: bool = True
    dropout: float = 0.3
    threshold: float = 0.5


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Binary focal loss (Lin et al.) without class weights: mean of −(1−p_t)^γ · log p_t."""
    log_p = nn.functional.logsigmoid(logits)
    log_not_p = nn.functional.logsigmoid(-logits)
    log_pt = labels * log_p + (1 - labels) * log_not_p
    return (-((1 - log_pt.exp()) ** gamma) * log_pt).mean()


class EmpathyCauseModel(TrainedModel):
    METHOD = "empathy_cause"
    CONFIG = EmpathyCauseConfig

    def __init__(self, config: EmpathyCauseConfig):
        super().__init__()
        self.config = config
        self.encoder = AdaptedEncoder(config.encoder)
        hidden = self.encoder.hidden_size
        self.bilinear = nn.Linear(hidden, hidden, bias=False) if config.attention else None
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(3 * hidden if config.attention else 2 * hidden, 1)

    def sentence_embeddings(self, texts: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        """Per text (a list of sentences), one contextual embedding per sentence [n, H]."""
        inputs = [WordInput.from_turns([Turn("speaker", s) for s in sentences]) for sentences in texts]
        # Role markers are noise here: drop them, keep every sentence's words with its sentence index.
        inputs = [WordInput([w for w, t in zip(x.words, x.turn_of, strict=True) if t >= 0],
                            [t for t in x.turn_of if t >= 0]) for x in inputs]  # fmt: skip
        batch = encode_words(self.encoder.tokenizer, inputs, self.config.encoder.max_length)
        hidden = self.encoder(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask
        ).last_hidden_state
        out = []
        for row, (x, sentences) in enumerate(zip(inputs, texts, strict=True)):
            turn_of = torch.tensor(x.turn_of, dtype=torch.long)
            positions = batch.word_index[row] >= 0
            token_sentence = torch.full_like(batch.word_index[row], -1)
            token_sentence[positions] = turn_of[batch.word_index[row, positions]]
            membership = (token_sentence.unsqueeze(0) == torch.arange(len(sentences)).unsqueeze(1)).to(
                hidden.dtype
            )
            out.append(membership @ hidden[row] / membership.sum(-1, keepdim=True).clamp(min=1))
        return out

    def forward(self, post: torch.Tensor, reply: torch.Tensor) -> torch.Tensor:
        """Cause logits [n_post] from post sentence embeddings [n_post, H] and reply ones [n_reply, H]."""
        if self.bilinear is not None:
            weights = (self.bilinear(post) @ reply.T).softmax(-1)
            context = weights @ reply
            features = torch.cat([post, context, post * context], -1)
        else:
            features = torch.cat([post, reply.mean(0, keepdim=True).expand_as(post)], -1)
        return self.classifier(self.dropout(features)).squeeze(-1)

    @torch.no_grad()
    def probabilities(
        self, posts: Sequence[Sequence[str]], replies: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        was_training = self.training
        self.eval()
        post_embeddings = self.sentence_embeddings(posts)
        reply_embeddings = self.sentence_embeddings(replies)
        out = [self(p, r).sigmoid().tolist() for p, r in zip(post_embeddings, reply_embeddings, strict=True)]
        self.train(was_training)
        return out
