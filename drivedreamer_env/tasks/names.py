"""The names of the five WorldDreamer tasks; torch-free, so ``drivedreamer --help`` can list them cheaply."""

TASKS = ("image-to-video", "text-to-video", "inpaint", "stylize", "action-to-video")
