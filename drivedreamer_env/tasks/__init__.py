"""The five WorldDreamer tasks as mask recipes over one :func:`~drivedreamer_env.tasks.generation.generate` call.

* :mod:`~drivedreamer_env.tasks.names` — the task names, torch-free (the CLI imports them for ``choices``);
* :mod:`~drivedreamer_env.tasks.recipes` — one small recipe per task: which tokens are given, which are
  generated, and whether frame by frame (KV cache) or jointly;
* :mod:`~drivedreamer_env.tasks.generation` — :func:`generate`: validate the inputs, run the task's recipe,
  decode the tokens to frames (:func:`run_task`: the same, with the frames kept and the share generated).
"""
