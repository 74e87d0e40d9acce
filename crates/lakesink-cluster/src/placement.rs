//! Which worker runs which part of each connector.
//!
//! Every worker works the placement out for itself from the same two inputs: the live
//! members of the worker group (as the group coordinator lists them once the group is
//! stable) and the connectors of the config topic. Task `i` of connector `c` goes to member
//! `(h(c) + i) mod n` of the members sorted by URL, and the connector itself to the member
//! of its task 0: the tasks of one connector are spread evenly, and connectors start at
//! different members. While two workers briefly disagree (one has seen a member leave, the
//! other not yet), a task may run on both or on neither for a moment; both are harmless for
//! a sink, whose partitions are shared out by the connector's own consumer group and whose
//! file commits are fenced per partition.

use std::collections::BTreeSet;

use lakesink_connect::Placement;
use lakesink_connect::herder::TargetState;

/// A stable hash of a connector's name (FNV-1a), the same on every worker and release.
fn start_of(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The parts of connector `name` (with `tasks` tasks) that run on member `me` of `members`
/// (sorted URLs). A stopped connector runs no tasks; its status is still reported by one
/// member.
pub fn place(
    name: &str,
    tasks: usize,
    target: TargetState,
    members: &[String],
    me: &str,
) -> Placement {
    let n = members.len();
    let Some(mine) = members.iter().position(|m| m == me) else {
        return Placement::Assigned {
            connector: false,
            tasks: BTreeSet::new(),
        };
    };
    let start = (start_of(name) % n as u64) as usize;
    let owner = |task: usize| (start + task) % n;
    let tasks = if target == TargetState::Stopped {
        BTreeSet::new()
    } else {
        (0..tasks).filter(|&t| owner(t) == mine).collect()
    };
    Placement::Assigned {
        connector: owner(0) == mine,
        tasks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("http://w{i}:8083")).collect()
    }

    fn tasks_of(p: &Placement) -> (bool, Vec<usize>) {
        match p {
            Placement::Assigned { connector, tasks } => {
                (*connector, tasks.iter().copied().collect())
            }
            Placement::All => panic!("distributed placement"),
        }
    }

    #[test]
    fn every_task_runs_on_exactly_one_member_and_tasks_spread_evenly() {
        for n in 1..=4 {
            let m = members(n);
            for name in ["a", "orders-hdfs", "clicks"] {
                let mut seen = vec![0; 6];
                let mut connector_owners = 0;
                for me in &m {
                    let (connector, tasks) =
                        tasks_of(&place(name, 6, TargetState::Started, &m, me));
                    connector_owners += usize::from(connector);
                    // Evenly: each member has 6/n tasks, give or take one.
                    assert!(tasks.len() >= 6 / n && tasks.len() <= 6_usize.div_ceil(n));
                    if connector {
                        assert!(tasks.contains(&0), "the connector goes with its task 0");
                    }
                    for t in tasks {
                        seen[t] += 1;
                    }
                }
                assert_eq!(seen, vec![1; 6], "{name} on {n} members");
                assert_eq!(connector_owners, 1);
            }
        }
    }

    #[test]
    fn a_stopped_connector_runs_no_task_and_a_stranger_runs_nothing() {
        let m = members(3);
        let owners: Vec<(bool, Vec<usize>)> = m
            .iter()
            .map(|me| tasks_of(&place("c", 3, TargetState::Stopped, &m, me)))
            .collect();
        assert!(owners.iter().all(|(_, t)| t.is_empty()));
        assert_eq!(owners.iter().filter(|(c, _)| *c).count(), 1);
        assert_eq!(
            tasks_of(&place("c", 3, TargetState::Started, &m, "http://other:1")),
            (false, vec![])
        );
    }

    #[test]
    fn the_placement_is_the_same_on_every_worker() {
        // The hash is fixed: a placement computed by one release is computed by the next.
        assert_eq!(start_of("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
