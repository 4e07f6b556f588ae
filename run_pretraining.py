"""Pretrain NEZHA (masked LM + next sentence) on TFRecords from create_pretraining_data.py.

Single process:  python run_pretraining.py --input_file=... --output_dir=... --bert_config_file=... --do_train
Horovod:         horovodrun -np 4 -H host1:2,host2:2 python run_pretraining.py --distribution=horovod ...
tf.distribute:   python run_pretraining.py --distribution=multi_worker_mirrored ...  (every GPU of this host;
                 several hosts: one process per host with TF_CONFIG, or one Slurm task per node)
"""
from absl import app

from training.flags import define_pretraining_flags, options_from_flags, run_main

define_pretraining_flags()


def main(argv):
    del argv
    from training.pretraining import PretrainingOptions, run
    run_main("run_pretraining.py", run, options_from_flags(PretrainingOptions))


if __name__ == "__main__":
    app.run(main)
