"""``drivedreamer play``: drive the dream with the keyboard (pygame, the ``play`` extra) and optionally record.

Keys: left / right arrows steer (held: the wheel turns further), up / down change the target speed, R resets,
Esc or closing the window quits. The HUD shows steering, speed and step.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from drivedreamer_env.cli.env_options import add_env_options, make_env_kwargs, parse_start

STEER_RATE = 0.15  # normalised steering change per frame while an arrow is held
SPEED_RATE = 0.05  # normalised speed change per frame while up / down is held
WHEEL_CENTRING = 0.7  # steering kept per frame when no arrow (or both) is held


def play(start: Any = None, record: str | Path | None = None, max_steps: int = 2000, env_kwargs: dict | None = None,
         seed: int | None = None) -> int:  # fmt: skip
    """Open a window and drive until Esc; returns the number of steps driven."""
    from drivedreamer_env.envs.world_dreamer import RENDER_FPS, WorldDreamerDriveEnv
    from drivedreamer_env.media import write_video

    try:
        import pygame
    except ImportError as exc:
        raise ImportError("drivedreamer play needs pygame: pip install 'drivedreamer-env[play]'") from exc
    env = WorldDreamerDriveEnv(render_mode="rgb_array", **(env_kwargs or {}))
    env.reset(seed=seed, options={"start": start})
    pygame.display.init()
    first = env.render()
    screen = pygame.display.set_mode((first.shape[1], first.shape[0]))
    pygame.display.set_caption("drivedreamer play: arrows drive, R resets, Esc quits")
    clock = pygame.time.Clock()
    steer, speed, steps, recorded = 0.0, -0.2, 0, [first]
    running = True
    while running and steps < max_steps:
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                running = False
            elif event.type == pygame.KEYDOWN and event.key == pygame.K_r:
                env.reset(options={"start": start})
        keys = pygame.key.get_pressed()
        if keys[pygame.K_LEFT] != keys[pygame.K_RIGHT]:
            steer = float(np.clip(steer + (STEER_RATE if keys[pygame.K_LEFT] else -STEER_RATE), -1, 1))
        else:
            steer *= WHEEL_CENTRING  # self-centring wheel
        if keys[pygame.K_UP] != keys[pygame.K_DOWN]:
            speed = float(np.clip(speed + (SPEED_RATE if keys[pygame.K_UP] else -SPEED_RATE), -1, 1))
        _, _, terminated, truncated, _ = env.step(np.array([steer, speed], np.float32))
        steps += 1
        image = env.render()
        if record is not None:
            recorded.append(image)
        screen.blit(pygame.surfarray.make_surface(image.swapaxes(0, 1)), (0, 0))
        pygame.display.flip()
        if terminated or truncated:
            env.reset(options={"start": start})
        clock.tick(RENDER_FPS)
    pygame.display.quit()
    env.close()
    if record is not None:
        write_video(record, recorded, fps=RENDER_FPS)
        print(f"recorded {len(recorded)} frames to {record}")
    return steps


def cmd_play(args: argparse.Namespace) -> int:
    """Drive from ``--start`` (default: a random scene), recording to ``--record`` if given."""
    start = parse_start(args.start) if args.start is not None else None
    play(start, record=args.record, env_kwargs=make_env_kwargs(args), seed=args.seed)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``play``."""
    pl = sub.add_parser("play", help="drive the dream with the keyboard (needs the play extra)")
    pl.add_argument("--start", default=None, help="simulator seed, clip source or image (default: random scene)")
    pl.add_argument("--record", default=None, help="write the drive to this MP4/GIF")
    add_env_options(pl)
    pl.set_defaults(func=cmd_play)
