"""Start-up builds the training dataset once, positioned where the latest checkpoint left off."""
from optimization import create_optimizer, name_lookup
from tests.training.toy import make_toy_model, toy_dataset, toy_loss
from training.loop import LoopSettings, Trainer


def make_trainer(output_dir, steps):
    model = make_toy_model()
    opt = create_optimizer("lamb", 1e-2, 100, 1, name_of=name_lookup(model.tf1_variables()))
    return Trainer(model, toy_loss, opt, LoopSettings(str(output_dir), steps, save_checkpoints_steps=2, log_every=1))


def test_the_dataset_is_built_once_for_a_new_and_for_a_resumed_run(tmp_path):
    built = []

    def make_dataset(consumed):
        built.append(consumed)
        return toy_dataset(64, 8).skip(consumed)

    make_trainer(tmp_path, 2).train(make_dataset)
    assert built == [0]
    built.clear()
    result = make_trainer(tmp_path, 4).train(make_dataset)
    assert result.resumed_from.endswith("ckpt-2") and result.step == 4
    assert built == [2], "a resumed run builds its dataset once, after the consumed batches"
