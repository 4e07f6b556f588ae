import pytest


@pytest.fixture(scope="session")
def tokenizer(vocab_file):
    from data.tokenization import FullTokenizer

    if not vocab_file.is_file():
        pytest.skip(f"{vocab_file} is absent: the NEZHA vocabulary is needed")
    return FullTokenizer(str(vocab_file), do_lower_case=True)


@pytest.fixture(scope="session")
def data_dir(shared_dir):
    return shared_dir / "data"
