use super::*;
use time::macros::datetime;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn member(n: u128, role: MemberRole, contribution: f64, trust: f64, minute: u8) -> Member {
    Member {
        agent_id: id(n),
        role,
        contribution,
        trust,
        joined_at: datetime!(2026-01-01 12:00 UTC) + time::Duration::minutes(minute.into()),
    }
}

fn joiner(n: u128) -> Joiner {
    Joiner {
        agent_id: id(n),
        agent_status: AgentStatus::Active,
        requested_role: None,
        current_coalitions: 0,
        max_coalitions: DEFAULT_MAX_COALITIONS_PER_AGENT,
    }
}

fn target(members: &[Member]) -> JoinTarget<'_> {
    JoinTarget { status: CoalitionStatus::Active, max_size: 3, members }
}

#[test]
fn election_prefers_contribution_times_trust() {
    let members = [
        member(1, MemberRole::Member, 0.9, 0.5, 0),      // 0.45
        member(2, MemberRole::Member, 0.6, 0.9, 5),      // 0.54
        member(3, MemberRole::Coordinator, 0.5, 1.0, 1), // 0.50
    ];
    assert_eq!(elect_leader(&members), Some(id(2)));
}

#[test]
fn election_ties_go_to_the_earliest_join_then_the_lowest_id() {
    let members = [
        member(5, MemberRole::Member, 0.5, 0.8, 3),
        member(4, MemberRole::Member, 0.8, 0.5, 1),
        member(3, MemberRole::Member, 0.4, 1.0, 2),
    ];
    assert_eq!(elect_leader(&members), Some(id(4)), "equal scores: earliest join");
    let members = [member(9, MemberRole::Member, 0.5, 0.5, 1), member(7, MemberRole::Member, 0.5, 0.5, 1)];
    assert_eq!(elect_leader(&members), Some(id(7)), "same instant: lowest id");
    let reversed = [members[1].clone(), members[0].clone()];
    assert_eq!(elect_leader(&reversed), Some(id(7)), "row order does not matter");
}

#[test]
fn observers_lead_only_when_nobody_else_is_left() {
    let members = [member(1, MemberRole::Observer, 1.0, 1.0, 0), member(2, MemberRole::Member, 0.0, 0.1, 9)];
    assert_eq!(elect_leader(&members), Some(id(2)));
    assert_eq!(elect_leader(&members[..1]), Some(id(1)));
    assert_eq!(elect_leader(&[]), None);
}

#[test]
fn the_first_member_leads_whatever_it_asked_for() {
    let mut first = joiner(1);
    first.requested_role = Some(MemberRole::Observer);
    assert_eq!(check_join(target(&[]), first), Ok(JoinPlan { role: MemberRole::Leader, demoted_leader: None }));
}

#[test]
fn later_members_get_their_role_and_an_explicit_leader_takes_over() {
    let members = [member(1, MemberRole::Leader, 0.0, 1.0, 0)];
    assert_eq!(
        check_join(target(&members), joiner(2)),
        Ok(JoinPlan { role: MemberRole::Member, demoted_leader: None })
    );
    let mut observer = joiner(2);
    observer.requested_role = Some(MemberRole::Observer);
    assert_eq!(check_join(target(&members), observer).map(|p| p.role), Ok(MemberRole::Observer));
    let mut leader = joiner(2);
    leader.requested_role = Some(MemberRole::Leader);
    assert_eq!(
        check_join(target(&members), leader),
        Ok(JoinPlan { role: MemberRole::Leader, demoted_leader: Some(id(1)) })
    );
}

#[test]
fn each_join_rule_and_its_error() {
    let members = [member(1, MemberRole::Leader, 0.0, 1.0, 0), member(2, MemberRole::Member, 0.0, 1.0, 1)];

    for status in [CoalitionStatus::Disbanding, CoalitionStatus::Dissolved] {
        let closed = JoinTarget { status, ..target(&members) };
        assert_eq!(check_join(closed, joiner(3)), Err(JoinError::CoalitionClosed { status }));
    }
    let forming = JoinTarget { status: CoalitionStatus::Forming, ..target(&members) };
    assert!(check_join(forming, joiner(3)).is_ok());

    assert_eq!(check_join(target(&members), joiner(2)), Err(JoinError::AlreadyMember));

    for status in [AgentStatus::Stopped, AgentStatus::Error] {
        let agent = Joiner { agent_status: status, ..joiner(3) };
        assert_eq!(check_join(target(&members), agent), Err(JoinError::AgentIneligible { status }));
    }
    for status in [AgentStatus::Pending, AgentStatus::Paused] {
        assert!(check_join(target(&members), Joiner { agent_status: status, ..joiner(3) }).is_ok());
    }

    let full = JoinTarget { max_size: 2, ..target(&members) };
    assert_eq!(check_join(full, joiner(3)), Err(JoinError::CoalitionFull { max_size: 2 }));

    let busy = Joiner { current_coalitions: 3, ..joiner(3) };
    assert_eq!(check_join(target(&members), busy), Err(JoinError::AgentAtLimit { current: 3, limit: 3 }));
    let almost = Joiner { current_coalitions: 2, ..joiner(3) };
    assert!(check_join(target(&members), almost).is_ok());
}

#[test]
fn the_first_failing_rule_is_reported() {
    let members = [member(1, MemberRole::Leader, 0.0, 1.0, 0)];
    let closed_and_full = JoinTarget { status: CoalitionStatus::Dissolved, max_size: 1, members: &members };
    let stopped_and_busy = Joiner { agent_status: AgentStatus::Stopped, current_coalitions: 9, ..joiner(1) };
    assert_eq!(
        check_join(closed_and_full, stopped_and_busy),
        Err(JoinError::CoalitionClosed { status: CoalitionStatus::Dissolved })
    );
    let full = JoinTarget { max_size: 1, ..target(&members) };
    assert_eq!(check_join(full, stopped_and_busy), Err(JoinError::AlreadyMember));
    let stopped_elsewhere = Joiner { agent_id: id(2), ..stopped_and_busy };
    assert_eq!(check_join(full, stopped_elsewhere), Err(JoinError::AgentIneligible { status: AgentStatus::Stopped }));
}

#[test]
fn the_leader_leaving_hands_over_by_the_election_rule() {
    let members = [
        member(1, MemberRole::Leader, 1.0, 1.0, 0),
        member(2, MemberRole::Member, 0.2, 1.0, 1),
        member(3, MemberRole::Coordinator, 0.6, 0.5, 2),
    ];
    assert_eq!(plan_leave(&members, id(1)), Ok(LeavePlan { new_leader: Some(id(3)), dissolves: false }));
    assert_eq!(plan_leave(&members, id(2)), Ok(LeavePlan { new_leader: None, dissolves: false }));
    assert_eq!(plan_leave(&members, id(4)), Err(MembershipError::NotMember));
}

#[test]
fn the_last_member_leaving_dissolves_and_a_leaderless_snapshot_is_repaired() {
    let alone = [member(1, MemberRole::Leader, 0.0, 1.0, 0)];
    assert_eq!(plan_leave(&alone, id(1)), Ok(LeavePlan { new_leader: None, dissolves: true }));
    let leaderless = [member(1, MemberRole::Member, 0.0, 1.0, 0), member(2, MemberRole::Member, 0.0, 1.0, 1)];
    assert_eq!(plan_leave(&leaderless, id(2)), Ok(LeavePlan { new_leader: Some(id(1)), dissolves: false }));
}

#[test]
fn role_changes_keep_exactly_one_leader() {
    let members = [
        member(1, MemberRole::Leader, 0.1, 1.0, 0),
        member(2, MemberRole::Member, 0.9, 0.9, 1),
        member(3, MemberRole::Member, 0.2, 1.0, 2),
    ];
    let none = RoleChangePlan { demoted_leader: None, new_leader: None };
    assert_eq!(
        plan_role_change(&members, id(3), MemberRole::Leader),
        Ok(RoleChangePlan { demoted_leader: Some(id(1)), new_leader: None })
    );
    assert_eq!(
        plan_role_change(&members, id(1), MemberRole::Observer),
        Ok(RoleChangePlan { demoted_leader: None, new_leader: Some(id(2)) })
    );
    assert_eq!(plan_role_change(&members, id(3), MemberRole::Coordinator), Ok(none));
    assert_eq!(plan_role_change(&members, id(1), MemberRole::Leader), Ok(none));
    assert_eq!(plan_role_change(&members, id(9), MemberRole::Member), Err(MembershipError::NotMember));
    assert_eq!(plan_role_change(&members[..1], id(1), MemberRole::Member), Err(MembershipError::LeaderRequired));
}

#[test]
fn member_scores_are_fractions() {
    assert!(validate_member_scores(Some(0.0), Some(1.0)).is_empty());
    assert!(validate_member_scores(None, None).is_empty());
    let fields: Vec<String> =
        validate_member_scores(Some(1.2), Some(-0.1)).into_vec().into_iter().map(|e| e.field).collect();
    assert_eq!(fields, ["contribution", "trust"]);
    assert_eq!(DEFAULT_CONTRIBUTION, 0.0);
    assert_eq!(DEFAULT_TRUST, 1.0);
}

#[test]
fn errors_read_well() {
    assert_eq!(JoinError::CoalitionFull { max_size: 5 }.to_string(), "the coalition is full (5 members)");
    assert_eq!(
        JoinError::AgentAtLimit { current: 3, limit: 3 }.to_string(),
        "the agent already belongs to 3 coalitions, its limit is 3"
    );
    assert_eq!(
        JoinError::AgentIneligible { status: AgentStatus::Error }.to_string(),
        "an agent in status error cannot join a coalition (stopped and errored agents cannot)"
    );
}
