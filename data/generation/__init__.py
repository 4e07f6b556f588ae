"""The pretraining-data generator behind create_pretraining_data.py: text in, TFRecords out (pure Python).

Modules, in the order the data flows:
  config.py         GeneratorConfig (the original's flags) and PretrainingDataError
  text_corpus.py    text of other shapes (SQuAD, TSV) in the generator's input layout (scripts/build_zh_corpus.py)
  planning.py       which files or byte ranges each worker or group reads, and its seed
  corpus.py         the input text read into documents, held as token ids (`Corpus`)
  chinese_words.py  jieba words marking which characters continue a word (--chinese_wwm)
  shuffling.py      the original's random.shuffle, draw for draw
  instances.py      sentence pairs and their masks, exactly as the original builds them
  encoding.py       tf.train.Example bytes of an instance: masked, or unmasked (--dynamic_masking)
  tfrecord.py       TFRecord framing (masked CRC-32C)
  spool.py          encoded records held in an unnamed file until the shuffled write
  sharding.py       the output names each worker or group writes
  workers.py        one unit of work (read, build, spool, write) and the process pool
  launcher.py       this process's task index and count (flags or horovodrun/mpirun)
  progress.py       progress lines and the closing summary
  generator.py      `generate`: the whole run of one task
"""
