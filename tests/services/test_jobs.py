"""sample() from the kernel through hootenanny's job system: pattern and capture spaces, job. broadcasts."""

import asyncio

import mido
import pytest

from appliance.cas import ContentStore
from tests.services.test_streams_e2e import wait_for
from tests.support.stack import ToolFailed


async def weave(tools, code: str) -> dict:
    for _ in range(200):
        try:
            return await tools.call("weave_eval", code=code, timeout=60)
        except ToolFailed as exc:
            if "no tool 'weave_eval'" not in exc.text and "restarting" not in exc.text:
                raise
        await asyncio.sleep(0.05)
    raise TimeoutError("vibeweaver never registered")


async def test_kernel_samples_pattern_and_capture(stack, tools):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    stack.start("vibeweaver")
    uri = "stream://eurorack/main"
    await tools.call("stream_create", uri=uri, device="sim", sample_format="s16", chunk_samples=9600)
    await tools.call("stream_start", uri=uri)
    await wait_for(tools, uri, lambda s: s["head_sample"] > 48000 * 2)

    out = await weave(tools, 'p = await sample("pattern", "five over sixteen", '
                             'inference={"pulses": 5, "steps": 16, "root": "C2"})\np.mime')
    assert out["success"], out
    assert out["result"] == "'audio/midi'"
    listed = (await tools.call("artifact_list", tag="pattern"))["artifacts"]
    smf = mido.MidiFile(ContentStore(stack.data_dir / "cas").path(listed[0]["content_hash"]))
    notes = [m for m in smf.tracks[0] if m.type == "note_on" and m.velocity > 0]
    assert len(notes) == 5

    out = await weave(tools, f'c = await sample("capture", "{uri}", inference={{"start": {{"seconds_ago": 1}}}})\n'
                             'c.mime')
    assert out["success"], out
    assert out["result"] == "'audio/wav'"

    out = await weave(tools, 'await sample("pattern", inference={"pulses": 99, "steps": 16})')
    assert not out["success"] and "pulses" in (out["error"] or "")


async def test_job_tool_errors(stack, tools):
    stack.start("hootenanny")
    with pytest.raises(ToolFailed, match=r"space: 'dreams' is not a box space; spaces here: capture, pattern"):
        await tools.call("job_sample", space="dreams")
    with pytest.raises(ToolFailed, match=r"inference: unknown pattern parameter 'colour'"):
        await tools.call("job_sample", space="pattern", inference={"colour": "blue"})
    with pytest.raises(ToolFailed, match=r"prompt: name the stream"):
        await tools.call("job_sample", space="capture")
    with pytest.raises(ToolFailed, match=r"content_hash: .* is not in the content store"):
        await tools.call("artifact_register", content_hash="ab" * 32, mime="audio/wav")
    with pytest.raises(ToolFailed, match=r"no job 'job-x'"):
        await tools.call("job_status", job_id="job-x")
