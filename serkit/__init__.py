"""serkit: speech emotion recognition in the Kaldi / ESPnet recipe style.

``from serkit import Recognizer`` runs a trained model on recordings (``serkit.recognizer``);
the import is lazy, so ``import serkit`` alone loads no torch.
"""


def __getattr__(name):
    if name in ("Recognizer", "export_package"):
        from serkit import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module 'serkit' has no attribute '{name}'")
