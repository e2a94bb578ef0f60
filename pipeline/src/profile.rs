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
#[derive(Default)]
pub struct OperatorClock {
    busy: Rc<RefCell<HashMap<usize, Duration>>>,
    names: Rc<RefCell<HashMap<usize, String>>>,
}

impl OperatorClock {
    /// Starts logging the schedule of the operators `worker` builds from now on.
    pub fn install(worker: &mut Worker) -> OperatorClock {
        let clock = OperatorClock::default();
        let (busy, names) = (Rc::clone(&clock.busy), Rc::clone(&clock.names));
        let mut started = HashMap::new();
        if let Some(mut register) = worker.log_register() {
            register.insert::<TimelyEventBuilder, _>("timely", move |_, events| {
                for (at, event) in events.iter_mut().flat_map(|e| e.drain(..)) {
                    let schedule = match event {
                        TimelyEvent::Schedule(schedule) => schedule,
                        TimelyEvent::Operates(operator) => {
                            names.borrow_mut().insert(operator.id, operator.name);
                            continue;
                        }
                        _ => continue,
                    };
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

    /// The time so far per stage and per operator.
    pub fn profile(&self, worker: &Worker, stages: &Stages) -> Profile {
        if let Some(logger) = worker.logger_for::<TimelyEventBuilder>("timely") {
            logger.flush();
        }
        let mut profile = Profile::default();
        for (name, _) in &stages.starts {
            profile.add_stage(name, Duration::ZERO);
        }
        let (names, busy) = (self.names.borrow(), self.busy.borrow());
        let (mut staged, mut whole) = (Duration::ZERO, Duration::ZERO);
        for (id, time) in busy.iter() {
            if Some(*id) == stages.root {
                whole = *time;
            } else if let Some(stage) = stages.of(*id) {
                profile.add_stage(stage, *time);
                staged += *time;
                let name = names.get(id).cloned().unwrap_or_default();
                profile.operators.push(Operator { id: *id, stage, name, time: *time });
            }
        }
        profile.add_stage("progress and scheduling", whole.saturating_sub(staged));
        profile.operators.sort_by_key(|o| std::cmp::Reverse(o.time));
        profile
    }
}

/// Where a graph's time went: per stage (in the graph's order), and per operator (longest first).
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub stages: Vec<(&'static str, Duration)>,
    pub operators: Vec<Operator>,
}

/// One operator: its worker-unique id (the same on every worker), stage, name and running time.
#[derive(Clone, Debug)]
pub struct Operator {
    pub id: usize,
    pub stage: &'static str,
    pub name: String,
    pub time: Duration,
}

impl Profile {
    pub fn stage(&self, name: &str) -> Duration {
        self.stages.iter().find(|(n, _)| *n == name).map_or(Duration::ZERO, |(_, time)| *time)
    }

    fn add_stage(&mut self, name: &'static str, time: Duration) {
        match self.stages.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += time,
            None => self.stages.push((name, time)),
        }
    }

    /// Adds another worker's times, stage by stage and operator by operator.
    pub fn add(&mut self, other: Profile) {
        for (name, time) in other.stages {
            self.add_stage(name, time);
        }
        for operator in other.operators {
            match self.operators.iter_mut().find(|o| o.id == operator.id) {
                Some(mine) => mine.time += operator.time,
                None => self.operators.push(operator),
            }
        }
        self.operators.sort_by_key(|o| std::cmp::Reverse(o.time));
    }
}
