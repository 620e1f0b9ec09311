"""Pool tasks: what a pool process keeps between tasks."""

from __future__ import annotations

from streamapp.analysis import embeddings, minilm, transcript
from streamapp.analysis.transcript import AsrParams, default_model_dir
from streamapp.app import tasks


def test_a_render_starts_without_the_analysis_models() -> None:
    transcript._model(AsrParams(model_dir=default_model_dir(), threads=1))
    embeddings.embed_passages(["The soil feeds the roots."], "en")
    assert transcript._MODELS and embeddings._model is not None and minilm._model is not None

    tasks.drop_analysis_models()

    assert not transcript._MODELS
    assert embeddings._model is None and minilm._model is None
    # Loaded again on the next use.
    assert embeddings.embed_passages(["The soil feeds the roots."], "en").shape == (1, embeddings.DIM)
