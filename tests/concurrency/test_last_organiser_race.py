"""Two organisers demoting (or deactivating) each other at the same moment: one
wins, the other is refused, and an active organiser is always left."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conference.auth.models import StaffUser
from conference.auth.services import LastOrganiser, change_role, get_staff_user, set_active
from conference.core.db import db
from tests.auth.helpers import make_named_staff
from tests.concurrency.conftest import run_together
from tests.conftest import postgres_only

pytestmark = postgres_only


@pytest.mark.parametrize("how", ["demote", "deactivate"])
def test_two_organisers_removing_each_other_leave_one(app, race_app, how):
    anna = make_named_staff("anna@example.dk", "organiser", "Anna")
    eva = make_named_staff("eva@example.dk", "organiser", "Eva")
    pairs = [(anna.id, eva.id), (eva.id, anna.id)]
    db.session.rollback()

    def remove(actor_id: int, target_id: int):
        def job():
            target = get_staff_user(target_id)
            actor = f"staff:{actor_id}"
            if how == "demote":
                return change_role(target, "checkin", actor=actor)
            return set_active(target, False, actor=actor)

        return job

    for _round in range(5):
        outcomes = run_together(race_app, [remove(a, t) for a, t in pairs])
        errors = [o.error for o in outcomes if o.error is not None]
        assert len(errors) == 1, [o.trace for o in outcomes]
        assert isinstance(errors[0], LastOrganiser)
        db.session.rollback()
        active_organisers = db.session.scalar(
            select(func.count(StaffUser.id)).where(
                StaffUser.role == "organiser", StaffUser.is_active_user.is_(True)
            )
        )
        assert active_organisers == 1
        # Put both back for the next round.
        for user in db.session.scalars(select(StaffUser)):
            user.role, user.is_active_user = "organiser", True
        db.session.commit()
