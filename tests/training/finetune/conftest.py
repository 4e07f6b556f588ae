"""The tiny fixture model the fine-tuning tests build on."""
import pytest

from modeling.config import NezhaConfig


@pytest.fixture(scope="module")
def tiny(fixtures_dir):
    """(config, TF1 checkpoint prefix) of the original's tiny LAMB-pretrained NEZHA."""
    config = NezhaConfig.from_json_file(str(fixtures_dir / "nezha_tiny_lamb" / "bert_config.json"))
    return config, str(fixtures_dir / "nezha_tiny_lamb" / "model.ckpt")
