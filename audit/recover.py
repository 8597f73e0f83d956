"""The operator's step after the log stopped signing: ``hedui audit recover``.

It holds the signer's lease (no integration runs meanwhile), checks the whole stored log against the log's
key and the witnesses, and then does the one thing that is safe, or refuses and says why:

* no state yet (an upgrade from a version without one, or the state file lost) and the stored log intact:
  the state is written at the newest signed head (*adopted*);
* a state behind the stored log (a state file restored from a backup) whose tree the stored log extends: the
  state moves forward to the newest signed head;
* a state that agrees, or is one head ahead with its batch still in the database: nothing to do, the service
  resumes by itself;
* anything else — the database behind the state (heads or entries lost, restored from an older backup), or a
  stored log that fails its check — is refused: signing on would fork the log. Restore a database that holds
  every signed entry, or start a new log (new origin and key) and keep this one as evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from audit.checkpoint import Checkpoint, CheckpointError, NoteVerifier, open_checkpoint
from audit.signer import StoredTip, disagreement, holder_name, proven_tree, resumable, stored_tip, take_turn
from audit.state import SignerState, StateError, StateStore
from audit.verify import check_stored_log

__all__ = ["Recovered", "RecoveryRefused", "recover"]


class RecoveryRefused(Exception):
    """The state cannot be made to agree with the stored log without forking it (the message says why)."""


@dataclass(frozen=True, slots=True)
class Recovered:
    """What the step did: ``changed`` whether it wrote the state, ``message`` one line for the operator."""

    changed: bool
    message: str


async def recover(
    session: AsyncSession,
    store: StateStore,
    verifier: NoteVerifier,
    *,
    origin: str,
    witnessed: Sequence[Checkpoint] = (),
) -> Recovered:
    """Make the signer's state agree with the stored log where that is safe (see the module docstring).

    Runs in one write transaction (``session``): the lease is taken first and held until it ends.
    """
    await take_turn(session, f"hedui audit recover on {holder_name()}")
    try:
        state = store.load()
    except StateError as exc:
        raise RecoveryRefused(f"{exc}: move it aside to adopt the stored log afresh") from None
    tip = await stored_tip(session)
    if state is not None and await _agrees(session, state, tip):
        return Recovered(
            False, f"nothing to recover: the stored log agrees with the signer's state (size {state.size})"
        )
    checked = await check_stored_log(session, verifier, origin=origin, witnessed=witnessed, refused_rows=False)
    if checked.failure is not None:
        raise RecoveryRefused(f"the stored log fails its check, {checked.failure}; restore a database that passes")
    if state is not None and not (state.size < tip.head_size == tip.leaves):
        raise RecoveryRefused(disagreement(state, tip, store.where) + _FORK)
    adopted = await _stored_state(session, tip, verifier, origin)
    if state is not None:
        tree, _ = await proven_tree(session, state.size)
        if tree.root() != state.root:
            raise RecoveryRefused(
                f"the stored log does not extend the signer's state (size {state.size}): it is another history" + _FORK
            )
    store.save(adopted)
    before = "no state" if state is None else f"the state at size {state.size}"
    return Recovered(True, f"signer state at {store.where}: {before} → size {adopted.size} (the stored log, checked)")


_FORK = (
    "; signing on would fork the log: restore a database holding every signed entry, or start a new log "
    "(new audit_log_origin and key) and keep this one as evidence"
)


async def _agrees(session: AsyncSession, state: SignerState, tip: StoredTip) -> bool:
    """The state is the stored log's, or one head ahead with its batch (resumed by the service itself)."""
    if tip.head_size == state.size and tip.head_note == state.checkpoint and tip.leaves == state.size:
        return True
    how, _ = await resumable(session, state, tip)
    return bool(how)


async def _stored_state(session: AsyncSession, tip: StoredTip, verifier: NoteVerifier, origin: str) -> SignerState:
    """The signer's state of the stored log's newest signed head."""
    if not tip.head_size:
        return SignerState(origin, verifier.key_id.hex())
    try:
        signed = open_checkpoint(tip.head_note, verifier, origin)
    except CheckpointError as exc:  # the full check passed, so this is a head written meanwhile: refuse
        raise RecoveryRefused(f"the newest stored head does not verify: {exc}") from None
    _, accumulator = await proven_tree(session, signed.size)
    if accumulator.root() != signed.root_hash:
        raise RecoveryRefused(f"the stored leaves do not hash to the signed head of size {signed.size}")
    return SignerState(
        origin, verifier.key_id.hex(), signed.size, accumulator.compact_range, tip.head_note, signed.size
    )
