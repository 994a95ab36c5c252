import Testing
@testable import ParameterServer

@Suite("TaskEngine")
struct EngineTaskEngineTests {
    private func submit(_ engine: inout TaskEngine, _ task: EngineTask) throws -> (Timestamp, [EngineAction]) {
        let result = try engine.submit(task)
        return (result.timestamp, result.actions)
    }

    @Test func eventualStartsEveryTaskAtOnce() throws {
        var engine = TaskEngine(defaultModel: .eventual)
        for expected in 1...10 {
            let (t, actions) = try submit(&engine, EngineTask(table: 0))
            #expect(t == Timestamp(Int64(expected)))
            #expect(actions == [.start(t)])
        }
        #expect(engine.runningCount == 10)
        #expect(engine.waitingCount == 0)
        #expect(engine.finished(Timestamp(7)) == [.complete(Timestamp(7), .succeeded)])
        #expect(engine.isFinished(Timestamp(7)))
        #expect(!engine.isFinished(Timestamp(6)))
    }

    @Test func sequentialRunsOneTaskAtATimeInOrder() throws {
        var engine = TaskEngine(defaultModel: .eventual, tableModels: [3: .sequential])
        let (first, firstActions) = try submit(&engine, EngineTask(table: 3))
        #expect(firstActions == [.start(first)])
        var rest: [Timestamp] = []
        for _ in 0..<4 {
            let (t, actions) = try submit(&engine, EngineTask(table: 3))
            #expect(actions.isEmpty)
            rest.append(t)
        }
        // Another table is not held up by table 3.
        let (other, otherActions) = try submit(&engine, EngineTask(table: 4))
        #expect(otherActions == [.start(other)])

        var previous = first
        for t in rest {
            #expect(engine.finished(previous) == [.complete(previous, .succeeded), .start(t)])
            #expect(engine.runningCount == 2)
            previous = t
        }
        #expect(engine.finished(previous) == [.complete(previous, .succeeded)])
    }

    @Test func sequentialOverrideWaitsForEveryEarlierTaskOfTheTable() throws {
        var engine = TaskEngine(defaultModel: .eventual)
        let (a, _) = try submit(&engine, EngineTask(table: 0))
        let (b, _) = try submit(&engine, EngineTask(table: 0))
        let (c, actions) = try submit(&engine, EngineTask(table: 0, consistency: .sequential))
        #expect(actions.isEmpty)
        #expect(engine.finished(b) == [.complete(b, .succeeded)])
        #expect(engine.finished(a) == [.complete(a, .succeeded), .start(c)])
    }

    @Test func boundedDelayKeepsAtMostDelayPlusOneInFlight() throws {
        var engine = TaskEngine(defaultModel: .boundedDelay(maxDelay: 2))
        var started: [Timestamp] = []
        for _ in 0..<6 {
            let (t, actions) = try submit(&engine, EngineTask(table: 0))
            if actions == [.start(t)] { started.append(t) }
        }
        #expect(started == [Timestamp(1), Timestamp(2), Timestamp(3)])
        // Task 4 needs task 1; task 5 needs 1 and 2.
        #expect(engine.finished(Timestamp(2)) == [.complete(Timestamp(2), .succeeded)])
        #expect(engine.finished(Timestamp(1)) == [
            .complete(Timestamp(1), .succeeded), .start(Timestamp(4)), .start(Timestamp(5)),
        ])
        #expect(engine.runningCount == 3)
    }

    @Test func dependenciesAcrossTablesAreHonoured() throws {
        var engine = TaskEngine(defaultModel: .eventual)
        let (push, _) = try submit(&engine, EngineTask(table: 0))
        let (pull, pullActions) = try submit(&engine, EngineTask(table: 1, after: [push]))
        #expect(pullActions.isEmpty)
        let (free, freeActions) = try submit(&engine, EngineTask(table: 1))
        #expect(freeActions == [.start(free)])
        let (late, lateActions) = try submit(&engine, EngineTask(table: 2, after: [push, free]))
        #expect(lateActions.isEmpty)
        #expect(engine.finished(free) == [.complete(free, .succeeded)])
        #expect(engine.finished(push) == [.complete(push, .succeeded), .start(pull), .start(late)])
        // A dependency that already finished does not hold a task back.
        let (after, afterActions) = try submit(&engine, EngineTask(table: 0, after: [push]))
        #expect(afterActions == [.start(after)])
    }

    @Test func callbacksRunOnCompletionAndFailuresStillRelease() throws {
        var engine = TaskEngine(defaultModel: .sequential)
        let (a, _) = try submit(&engine, EngineTask(table: 0, callback: CallbackID(42)))
        let (b, _) = try submit(&engine, EngineTask(table: 0))
        let failure = TaskOutcome.failed(WireError(.timeout, field: "id", "no reply"))
        #expect(engine.finished(a, outcome: failure) == [
            .complete(a, failure), .runCallback(CallbackID(42), timestamp: a, outcome: failure), .start(b),
        ])
        #expect(engine.finished(a).isEmpty)
        #expect(engine.finished(Timestamp(99)).isEmpty)
    }

    @Test func aTaskFinishedBeforeItStartedNeverStarts() throws {
        var engine = TaskEngine(defaultModel: .sequential)
        let (a, _) = try submit(&engine, EngineTask(table: 0))
        let (b, _) = try submit(&engine, EngineTask(table: 0))
        let (c, _) = try submit(&engine, EngineTask(table: 0))
        #expect(engine.finished(b) == [.complete(b, .succeeded)])
        #expect(engine.waitingCount == 1)
        #expect(engine.finished(a) == [.complete(a, .succeeded), .start(c)])
    }

    @Test func bspStartsAnIterationOnceTheLastOneFinished() throws {
        var engine = TaskEngine(defaultModel: .bsp)
        let (push0, push0Actions) = try submit(&engine, EngineTask(table: 0, iteration: 0))
        let (pull0, pull0Actions) = try submit(&engine, EngineTask(table: 0, iteration: 0))
        let (push1, push1Actions) = try submit(&engine, EngineTask(table: 0, iteration: 1))
        let (pull1, pull1Actions) = try submit(&engine, EngineTask(table: 0, iteration: 1))
        #expect(push0Actions == [.start(push0)])
        #expect(pull0Actions == [.start(pull0)])
        #expect(push1Actions.isEmpty && pull1Actions.isEmpty)
        #expect(engine.finished(push0) == [.complete(push0, .succeeded)])
        #expect(engine.finished(pull0) == [.complete(pull0, .succeeded), .start(push1), .start(pull1)])
    }

    @Test func refusedTasksIssueNoTimestamp() throws {
        var engine = TaskEngine(defaultModel: .bsp)
        #expect(throws: EngineError(.missingIteration, table: 0, "a bsp task needs an iteration")) {
            try engine.submit(EngineTask(table: 0))
        }
        _ = try engine.submit(EngineTask(table: 0, iteration: 5))
        do {
            _ = try engine.submit(EngineTask(table: 0, iteration: 4))
            Issue.record("an iteration going back was accepted")
        } catch {
            #expect(error.code == .iterationWentBack)
        }
        do {
            _ = try engine.submit(EngineTask(table: 1, after: [Timestamp(2)], consistency: .eventual))
            Issue.record("a dependency on an unissued timestamp was accepted")
        } catch {
            #expect(error.code == .unknownDependency)
        }
        do {
            _ = try engine.submit(EngineTask(table: 1, consistency: .boundedDelay(maxDelay: -1)))
            Issue.record("a negative delay was accepted")
        } catch {
            #expect(error.code == .invalidModel)
        }
        #expect(engine.lastIssued == Timestamp(1))
    }

    /// Seeded random schedules over three tables (a bounded-delay table, an eventual table with random
    /// per-call overrides, a bsp table) with random dependencies and random completion and
    /// cancellation orders. After every step, a task runs exactly when the rules allow it.
    @Test(arguments: 0..<24)
    func randomSchedulesFollowTheRulesAtEveryStep(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let delay = Int.random(in: 0...3, using: &random)
        var engine = TaskEngine(
            defaultModel: .eventual, tableModels: [0: .boundedDelay(maxDelay: delay), 2: .bsp])
        var model = EngineModel()
        var iteration: Int64 = 0
        let taskCount = 300

        while model.tasks.count < taskCount || !model.running.isEmpty {
            let submitNow = model.tasks.count < taskCount && (model.running.isEmpty || Bool.random(using: &random))
            var actions: [EngineAction]
            if submitNow {
                let table = UInt32.random(in: 0...2, using: &random)
                var override: ConsistencyModel?
                if table == 1 {
                    override = [nil, .sequential, .eventual, .boundedDelay(maxDelay: 1), .boundedDelay(maxDelay: 4)]
                        .randomElement(using: &random)!
                }
                if table == 2, Int.random(in: 0..<3, using: &random) == 0 { iteration += 1 }
                var after: [Timestamp] = []
                if !model.tasks.isEmpty, Int.random(in: 0..<4, using: &random) == 0 {
                    for _ in 0..<Int.random(in: 1...2, using: &random) {
                        after.append(Timestamp(Int64.random(in: 1...Int64(model.tasks.count), using: &random)))
                    }
                }
                let task = EngineTask(
                    table: table, after: after, consistency: override,
                    iteration: table == 2 ? iteration : nil)
                let consistency = override ?? engine.model(forTable: table)
                let (t, submitActions) = try submit(&engine, task)
                model.submit(t, task: task, consistency: consistency)
                actions = submitActions
            } else {
                // Mostly finish a running task; now and then cancel a waiting one.
                let waiting = model.waiting
                let t: Timestamp
                if !waiting.isEmpty, Int.random(in: 0..<10, using: &random) == 0 {
                    t = waiting.randomElement(using: &random)!
                } else {
                    t = model.running.randomElement(using: &random)!
                }
                actions = engine.finished(t)
                #expect(actions.first == .complete(t, .succeeded))
                actions.removeFirst()
                model.finish(t)
            }
            for action in actions {
                guard case .start(let t) = action else {
                    Issue.record("unexpected action \(action)")
                    continue
                }
                #expect(!model.running.contains(t) && !model.finished.contains(t), "\(t) started twice")
                model.running.insert(t)
            }
            for t in model.tasks.keys where !model.finished.contains(t) {
                let allowed = model.mayStart(t)
                #expect(model.running.contains(t) == allowed, "seed \(seed): \(t) running \(model.running.contains(t)), allowed \(allowed)")
                #expect(engine.isRunning(t) == model.running.contains(t))
            }
            let inFlightOnBoundedTable = model.running.filter { model.tasks[$0]!.table == 0 }.count
            #expect(inFlightOnBoundedTable <= delay + 1)
        }
        #expect(model.finished.count == taskCount)
        #expect(engine.runningCount == 0 && engine.waitingCount == 0)
        #expect((1...Int64(taskCount)).allSatisfy { engine.isFinished(Timestamp($0)) })
    }
}

/// The rules of docs/CONSISTENCY.md written out directly (quadratic, and fine for a few hundred tasks).
private struct EngineModel {
    struct Entry {
        var table: UInt32
        var position: Int
        var consistency: ConsistencyModel
        var after: [Timestamp]
        var iteration: Int64?
    }

    var tasks: [Timestamp: Entry] = [:]
    var byTable: [UInt32: [Timestamp]] = [:]
    var running: Set<Timestamp> = []
    var finished: Set<Timestamp> = []

    var waiting: [Timestamp] {
        tasks.keys.filter { !running.contains($0) && !finished.contains($0) }.sorted()
    }

    mutating func submit(_ t: Timestamp, task: EngineTask, consistency: ConsistencyModel) {
        let position = byTable[task.table, default: []].count
        tasks[t] = Entry(
            table: task.table, position: position, consistency: consistency, after: task.after, iteration: task.iteration)
        byTable[task.table, default: []].append(t)
    }

    mutating func finish(_ t: Timestamp) {
        running.remove(t)
        finished.insert(t)
    }

    func mayStart(_ t: Timestamp) -> Bool {
        let task = tasks[t]!
        guard task.after.allSatisfy({ finished.contains($0) }) else { return false }
        let earlier = byTable[task.table]![..<task.position]
        switch task.consistency {
        case .eventual:
            return true
        case .sequential:
            return earlier.allSatisfy { finished.contains($0) }
        case .boundedDelay(let maxDelay):
            return earlier.allSatisfy { tasks[$0]!.position > task.position - maxDelay - 1 || finished.contains($0) }
        case .bsp:
            return earlier.allSatisfy { tasks[$0]!.iteration! >= task.iteration! || finished.contains($0) }
        }
    }
}
