//! Where the graph's time goes: each stage of [`crate::dataflow::build`] (the shared inputs,
//! each view, the sinks) owns the operators it created, a range of operator ids; timely's
//! schedule log says how long each operator ran.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};
use timely::worker::Worker;

/// The stages of a graph, each with the first operator id it created, in order.
#[derive(Clone, Debug, Default)]
pub struct Stages {
    starts: Vec<(&'static str, usize)>,
    /// The id of the dataflow itself, whose time includes every stage's and progress tracking.
    root: Option<usize>,
}

impl Stages {
    /// The graph is about to be built: its dataflow gets the next id.
    pub fn dataflow(worker: &Worker) -> Stages {
        Stages { starts: Vec::new(), root: Some(worker.peek_identifier()) }
    }

    /// The operators created from now on, until the next stage begins, are `name`'s.
    pub fn begin(&mut self, name: &'static str, worker: &Worker) {
        self.starts.push((name, worker.peek_identifier()));
    }

    fn of(&self, operator: usize) -> Option<&'static str> {
        let later = self.starts.partition_point(|(_, start)| *start <= operator);
        later.checked_sub(1).map(|i| self.starts[i].0)
    }
}

/// How long each operator of a worker has run so far, from the schedule log.
#[derive(Clone, Default)]
pub struct OperatorClock {
    busy: Rc<RefCell<HashMap<usize, Duration>>>,
}

impl OperatorClock {
    /// Starts logging the schedule of the operators `worker` builds from now on.
    pub fn install(worker: &mut Worker) -> OperatorClock {
        let clock = OperatorClock::default();
        let busy = Rc::clone(&clock.busy);
        let mut started = HashMap::new();
        if let Some(mut register) = worker.log_register() {
            register.insert::<TimelyEventBuilder, _>("timely", move |_, events| {
                for (at, event) in events.iter_mut().flat_map(|e| e.drain(..)) {
                    let TimelyEvent::Schedule(schedule) = event else { continue };
                    match schedule.start_stop {
                        StartStop::Start => drop(started.insert(schedule.id, at)),
                        StartStop::Stop => {
                            let since = started.remove(&schedule.id).unwrap_or(at);
                            *busy.borrow_mut().entry(schedule.id).or_default() += at.saturating_sub(since);
                        }
                    }
                }
            });
        }
        clock
    }

    /// The time so far per stage, in the stages' order, then the progress tracking and
    /// scheduling that belongs to no stage.
    pub fn by_stage(&self, worker: &Worker, stages: &Stages) -> Vec<(&'static str, Duration)> {
        if let Some(logger) = worker.logger_for::<TimelyEventBuilder>("timely") {
            logger.flush();
        }
        let mut times: Vec<(&'static str, Duration)> = Vec::new();
        for (name, _) in &stages.starts {
            if !times.iter().any(|(n, _)| n == name) {
                times.push((name, Duration::ZERO));
            }
        }
        let busy = self.busy.borrow();
        let (mut staged, mut whole) = (Duration::ZERO, Duration::ZERO);
        for (operator, time) in busy.iter() {
            if Some(*operator) == stages.root {
                whole = *time;
            } else if let Some((_, total)) =
                stages.of(*operator).and_then(|name| times.iter_mut().find(|(n, _)| *n == name))
            {
                *total += *time;
                staged += *time;
            }
        }
        times.push(("progress and scheduling", whole.saturating_sub(staged)));
        times
    }
}

/// Adds `other`'s times to `into`'s, stage by stage.
pub fn add(into: &mut Vec<(&'static str, Duration)>, other: &[(&'static str, Duration)]) {
    for (name, time) in other {
        match into.iter_mut().find(|(n, _)| n == name) {
            Some((_, total)) => *total += *time,
            None => into.push((name, *time)),
        }
    }
}
