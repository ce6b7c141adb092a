"""Encoders: feats (B, T, D), lengths (B,) -> hidden (B, T', H), lengths (B,).

``BASE_ENCODERS`` are the encoders built from a config alone; ``pretrained`` (in
``serkit.models.registry``) stacks one of them, taken from a pretraining checkpoint, under
another one of them.
"""
from serkit.models.encoders.blstm import BLSTMEncoder
from serkit.models.encoders.cnn_blstm_att import CNNBLSTMAttEncoder
from serkit.models.encoders.resnet import ResNetEncoder
from serkit.models.encoders.transformer import FOPTransformer, MPCTransformer
from serkit.models.encoders.wav2vec2 import Wav2Vec2Encoder

BASE_ENCODERS = {"blstm": BLSTMEncoder, "cnn_blstm_att": CNNBLSTMAttEncoder, "fop_transformer": FOPTransformer,
                 "mpc_transformer": MPCTransformer, "resnet": ResNetEncoder, "wav2vec2": Wav2Vec2Encoder}
