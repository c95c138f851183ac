"""`weave_help`: how to use the kernel, by topic. The examples are real cells and the tests run them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Example:
    title: str
    code: str


EXAMPLES = (
    Example("State persists between cells", "loops = ['kick', 'hats']\nloops.append('bass')\nlen(loops)"),
    Example("Tempo and transport", "tempo(96)\nplay()\ntransport"),
    Example("A rule on every bar", "@on_beat(4)\ndef every_bar(event):\n    print('bar', int(event.beat) // 4)\n"
            "every_bar.rule_id"),
    Example("A marker and a rule that waits for it",
            "marker('chorus', beat=32, metadata={'energy': 'high'})\n"
            "@on_marker('chorus', priority='high')\ndef chorus(event):\n    print('chorus at beat', event.beat)\n"
            "[r['name'] for r in rules()]"),
    Example("React to new artifacts by tag",
            "@on_artifact('drums')\nasync def new_drums(event):\n    schedule(event.details['artifact'], at=64)\n"
            "new_drums.rule_id"),
    Example("Generate a pattern and put it on the timeline",
            "kick = await sample('pattern', 'four on the floor', inference={'pulses': 4, 'steps': 16})\n"
            "schedule(kick, at=16, duration=16)\nkick"),
    Example("Take a region off the timeline again",
            "riff = await sample('pattern', 'riff', inference={'pulses': 5, 'steps': 16})\n"
            "region = schedule(riff, at=32, duration=8)\nunschedule(region)\n[r['region_id'] for r in regions()]"),
    Example("Two samples at once", "hats, clap = await gather(\n"
            "    sample('pattern', 'hats', inference={'pulses': 7, 'steps': 16}),\n"
            "    sample('pattern', 'clap', inference={'pulses': 2, 'steps': 16, 'rotation': 4}),\n)\n"
            "[hats.id, clap.id]"),
    Example("Latent: ready by a deadline, or now on demand",
            "pad = latent('pattern', 'slow chords', deadline=128, priority='high')\n"
            "chords = await pad.materialize()\nchords.id"),
    Example("A rule as data", "rule({'type': 'marker', 'name': 'outro'}, {'type': 'stop'}, one_shot=True)['name']"),
    Example("Look at a plot: a figure as the last expression comes back as a picture",
            "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(8, 3))\n"
            "ax.plot([60, 64, 67, 72], marker='o')\nax.set(xlabel='step', ylabel='MIDI note')\nfig"),
)

OVERVIEW = """\
vibeweaver is a persistent Python kernel on the studio box. Each weave_eval runs one cell:
globals persist between cells, top-level `await` works, the last expression's repr is the
result, print() output is captured per cell, and a cell running longer than the time limit
(weave.cell_timeout_seconds, default 30 s) is interrupted while the kernel keeps its globals.

A cell whose last expression is a picture comes back as PNG image content too: a matplotlib
figure (drawn with Agg; a pyplot figure is closed once shown, as in a notebook), a PIL image,
or analyze(..., picture='spectrogram')['picture']. The result's `picture` gives its size; a
picture over 4000x4000 px or 3 MiB of PNG is not returned, and `picture_refused` says why.
History keeps the repr, not the picture.

The kernel keeps up with the box between cells: `beat`, `transport` and `timeline` always
show the current state. Rules (made with @on_beat, @on_marker, @on_artifact, latent(..., deadline)
or rule(...)) run on the beat clock by themselves and survive a restart; your globals do not,
but functions used by rules are re-created from their source.

Lost your context? weave_session tells you the session, vibe, tempo, rules, markers and
recent history. Topics: overview, api, session, scheduler, examples."""

API = """\
session(name, vibe=None, load=True)   switch session; load=True resumes an existing one
tempo(bpm)                             set the tempo (20-400 bpm)
play() pause() stop() seek(beat)       the beat clock
sample(space, prompt='', inference=None, tags=None)
                                       -> awaitable Artifact (id, content_hash, mime, tags); spaces:
                                       'capture' (slice a stream on the box), 'pattern' (built-in MIDI
                                       patterns: inference pulses, steps, rotation, root, scale, bars),
                                       and HTTP generator spaces from the config. A failed job raises.
latent(space, prompt='', deadline=None, priority='normal', inference=None, tags=None)
                                       -> LatentRef: started so it is ready by beat `deadline`;
                                       .materialize() (or await it) starts it now; .cancel() drops it
schedule(content, at=None, duration=None, gain=1.0)
                                       place an Artifact (or id, or LatentRef) at beat `at`
                                       (default: next bar) for `duration` beats; returns the region
unschedule(region)                     take a region off the timeline (what schedule returned, or its
                                       region_id); if it is sounding it stops at once
regions()                              every region on the box's timeline (any agent's), in beat order
audition(content, duration=None)       play an artifact now, outside the timeline
marker(name, beat=None, metadata=None) name a beat (default: now)
analyze(source, start=None, end='now', channels=None, picture=None, width=800, height=400)
                                       -> dict: stream_analyze on the box; source is a stream uri (with
                                       start/end time points, e.g. {'seconds_ago': 10}) or an Artifact;
                                       loudness, peaks, pitch, key, onsets, tempo; notes for MIDI.
                                       picture='waveform'|'spectrogram'|'piano_roll' adds ['picture'],
                                       a Picture (.png, .width, .height): end a cell with it to see it
find(uri, query, start=None, end='now', limit=10, **options)
                                       -> dict: stream_find: hits of 'loudest', 'sound_starts',
                                       'silence_starts', 'clipping', 'change' or 'note' (pitch='C#');
                                       each hit's start/end go straight into analyze()
activity(uri, start=None, end='now', resolution=None)
                                       -> dict: stream_activity: hours of levels, onsets and notes
                                       in buckets of `resolution` seconds, from the activity index
@on_beat(every, offset=0, priority='normal', one_shot=False)
@on_marker(name, priority='normal', one_shot=False)
@on_artifact(tag, priority='normal', one_shot=False)
                                       decorators: the function becomes a rule; it may take one
                                       argument, the event (.kind, .beat, .details); it may be async
rule(trigger, action, priority='normal', one_shot=False, name=None)
                                       a data rule (see topic scheduler)
rules()  drop_rule(id_or_function)     list or remove rules
artifacts(tag=None)                    the box's recent artifacts (newest last, at most 100)
gather(*awaitables)                    asyncio.gather that also takes LatentRefs
beat  transport  timeline              read-only live views (beat works as a number)"""

SESSION = """\
A session groups rules, markers and history under a name and a vibe (free text describing
the music). The kernel starts in the session it was last in ('default' the first time).
session('night-drive', vibe='slow, warm, analog') creates or resumes it; load=False refuses
to reuse an existing name. weave_reset clears globals; weave_reset(clear_session=true) also
deletes the session's rules, markers, history and vibe. Everything lives in sqlite under
<data>/vibeweaver/weave.db; the kernel state is snapshotted there for a fast restart."""

SCHEDULER = """\
A rule is data: trigger, action, priority (critical > high > normal > low > idle), enabled,
one_shot, fired count. Triggers: {'type': 'beat', 'every': 4, 'offset': 0},
{'type': 'marker', 'name': ...}, {'type': 'artifact', 'tag': ...},
{'type': 'job_complete', 'space': '', 'job_id': ''}, {'type': 'transport', 'state': 'playing'|
'paused'|'stopped'|'any'}, {'type': 'deadline', 'beat': 64, 'space': 'pattern'}.
Actions: sample, schedule, sample_and_schedule, play, pause, stop, seek, audition, notify,
python (what the decorators make). Beat rules fire once per boundary even when ticks jitter
or skip. Deadline work starts at deadline - estimated duration x margin (1.5 critical,
1.2 high, 1.0 otherwise), the estimate coming from how long that space took before.
A rule whose action raises is disabled and written to history; the other rules keep firing."""

HelpTopic = Literal["overview", "api", "session", "scheduler", "examples"]  # the keys of TOPICS
TOPICS = {"overview": OVERVIEW, "api": API, "session": SESSION, "scheduler": SCHEDULER,
          "examples": "\n\n".join(f"# {e.title}\n{e.code}" for e in EXAMPLES)}


def help_text(topic: str) -> str:
    return TOPICS[topic]
