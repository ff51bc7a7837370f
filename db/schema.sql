-- The pipetune database schema (DESIGN 6.4, 7), as an ordered list of
-- migrations. build-aux/embed-sql.sh turns each "-- @migration N" section into
-- one string; pt_db_open() applies the sections a database lacks, each in one
-- transaction that also sets PRAGMA user_version = N, so a database is never
-- left half-migrated. Never edit a section once released: append a new one.
-- Whole-line comments are dropped from the embedded text.

-- @migration 1

-- One invocation of the tuner (or of any command that writes results).
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE CHECK (length(uuid) = 32),  -- matches a run across merged databases
  started TEXT NOT NULL,                                -- UTC, ISO 8601 with milliseconds
  finished TEXT,
  tool_version TEXT NOT NULL,
  command TEXT NOT NULL,
  host TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'running'
    CHECK (status IN ('running', 'done', 'interrupted', 'failed'))
);

-- A GPU as its backend reports it; the natural key identifies it across hosts.
CREATE TABLE devices (
  id INTEGER PRIMARY KEY,
  host TEXT NOT NULL,
  backend TEXT NOT NULL CHECK (backend IN ('cuda', 'hip')),
  name TEXT NOT NULL,
  arch TEXT NOT NULL,
  pci_bus_id TEXT NOT NULL,
  driver TEXT NOT NULL,
  sm_count INTEGER NOT NULL CHECK (sm_count > 0),
  warp_size INTEGER NOT NULL,
  max_threads_per_block INTEGER NOT NULL,
  max_threads_per_sm INTEGER NOT NULL,
  regs_per_block INTEGER NOT NULL,
  regs_per_sm INTEGER NOT NULL,
  smem_per_block INTEGER NOT NULL,
  smem_per_block_optin INTEGER NOT NULL,
  smem_per_sm INTEGER NOT NULL,
  l2_bytes INTEGER NOT NULL,
  global_mem INTEGER NOT NULL,
  clock_khz INTEGER,                                    -- NULL where unknown
  mem_clock_khz INTEGER,
  mem_bus_bits INTEGER,
  UNIQUE (host, backend, pci_bus_id, name, arch, driver)
);
CREATE INDEX devices_arch ON devices (arch);

-- Kernel source text, named by the XXH3-128 of its bytes.
CREATE TABLE kernel_sources (
  hash TEXT PRIMARY KEY CHECK (length(hash) = 32),
  name TEXT NOT NULL,
  text TEXT,                                            -- NULL when only name and hash were kept
  created TEXT NOT NULL
);

-- A point of the knob space (DESIGN 5); spec is the canonical spelling of 9.
CREATE TABLE variants (
  id INTEGER PRIMARY KEY,
  stage TEXT NOT NULL CHECK (stage IN ('gemm1', 'gemm2')),
  spec TEXT NOT NULL CHECK (length(spec) > 0),
  bm INTEGER NOT NULL CHECK (bm > 0),
  bn INTEGER NOT NULL CHECK (bn > 0),
  k_wave INTEGER CHECK (k_wave > 0),                    -- gemm1 only
  g2_kstages INTEGER CHECK (g2_kstages > 0),            -- gemm2 only
  bhoist INTEGER NOT NULL CHECK (bhoist IN (0, 1)),
  spart INTEGER NOT NULL CHECK (spart >= 0),
  nt INTEGER NOT NULL CHECK (nt IN (0, 1)),
  persist INTEGER NOT NULL CHECK (persist IN (0, 1)),
  epilog TEXT CHECK (epilog IN ('atomic', 'reduce')),   -- gemm2 only
  UNIQUE (stage, spec),
  CHECK ((stage = 'gemm1') = (k_wave IS NOT NULL)),
  CHECK ((stage = 'gemm2') = (g2_kstages IS NOT NULL)),
  CHECK ((stage = 'gemm2') = (epilog IS NOT NULL))
);

-- Compile cache: key = XXH3-128 over source hash, arch, compiler version,
-- defines and options (pt_db_compile_key).
CREATE TABLE compiles (
  key TEXT PRIMARY KEY CHECK (length(key) = 32),
  source_hash TEXT NOT NULL REFERENCES kernel_sources (hash),
  variant_id INTEGER REFERENCES variants (id),
  arch TEXT NOT NULL,
  compiler TEXT NOT NULL,
  options TEXT NOT NULL,                                -- defines (-DX) and options, one per line
  status TEXT NOT NULL CHECK (status IN ('ok', 'compile_fail')),
  code BLOB,
  log TEXT NOT NULL DEFAULT '',
  compile_ms REAL,
  regs INTEGER,                                         -- NULL where not reported
  spill_bytes INTEGER,
  smem_static INTEGER,
  created TEXT NOT NULL,
  CHECK ((status = 'ok') = (code IS NOT NULL))
);

-- A family at a token count with a seeded routing (DESIGN 4).
CREATE TABLE problems (
  id INTEGER PRIMARY KEY,
  family TEXT NOT NULL,
  model_dim INTEGER NOT NULL CHECK (model_dim > 0 AND model_dim % 64 = 0),
  inter_dim INTEGER NOT NULL CHECK (inter_dim > 0 AND inter_dim % 64 = 0),
  experts INTEGER NOT NULL CHECK (experts > 0),
  topk INTEGER NOT NULL CHECK (topk > 0 AND topk <= experts),
  dtype TEXT NOT NULL CHECK (dtype IN ('a4w4', 'a8w4', 'a16w4')),
  act TEXT NOT NULL CHECK (act IN ('silu', 'swiglu_oai')),
  tokens INTEGER NOT NULL CHECK (tokens > 0),
  routing TEXT NOT NULL CHECK (routing IN ('uniform', 'zipf')),
  routing_param REAL NOT NULL DEFAULT 0,                -- zipf exponent; 0 for uniform
  seed INTEGER NOT NULL,
  UNIQUE (family, model_dim, inter_dim, experts, topk, dtype, act, tokens,
          routing, routing_param, seed)
);

-- One result per (device, problem, variant, regime): a later result for the
-- same key replaces the earlier one in place (pt_db_put_measurement).
CREATE TABLE measurements (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id),
  device_id INTEGER NOT NULL REFERENCES devices (id),
  problem_id INTEGER NOT NULL REFERENCES problems (id),
  variant_id INTEGER NOT NULL REFERENCES variants (id),
  regime TEXT NOT NULL CHECK (regime IN ('cold', 'warm')),
  status TEXT NOT NULL CHECK (status IN ('ok', 'verify_fail', 'compile_fail',
                                         'infeasible', 'launch_fail', 'timeout', 'crash')),
  median_us REAL,
  min_us REAL,
  p90_us REAL,
  spread REAL,                                          -- median absolute deviation / median
  samples INTEGER,
  floor_us REAL,                                        -- max(bytes / copy bw, flops / matrix rate)
  err_max_abs REAL,                                     -- verification against the oracle
  err_mean_abs REAL,
  err_max_rel REAL,
  sm_clock_mhz INTEGER,                                 -- NULL where the backend does not say
  temp_c INTEGER,
  reason TEXT,                                          -- why a result is not ok
  backend TEXT NOT NULL CHECK (backend IN ('cuda', 'hip')),
  compiler TEXT NOT NULL,
  source_hash TEXT NOT NULL REFERENCES kernel_sources (hash),
  compile_key TEXT REFERENCES compiles (key),
  tool_version TEXT NOT NULL,
  created TEXT NOT NULL,
  UNIQUE (device_id, problem_id, variant_id, regime),
  -- coalesce: a NULL timing makes the comparison NULL, which CHECK lets pass
  CHECK (status <> 'ok' OR coalesce(samples > 0 AND min_us > 0
                                    AND min_us <= median_us
                                    AND median_us <= p90_us, 0))
);
CREATE INDEX measurements_problem ON measurements (problem_id, variant_id);
CREATE INDEX measurements_run ON measurements (run_id);

-- The tuner's plan (after SQLite's test/testrunner.tcl): one row per item of
-- a run, claimed by a device of the item's arch, finished with a measurement.
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id),
  arch TEXT NOT NULL,
  problem_id INTEGER NOT NULL REFERENCES problems (id),
  variant_id INTEGER NOT NULL REFERENCES variants (id),
  regime TEXT NOT NULL CHECK (regime IN ('cold', 'warm')),
  state TEXT NOT NULL DEFAULT 'ready'
    CHECK (state IN ('ready', 'running', 'done', 'failed')),
  device_id INTEGER REFERENCES devices (id),
  measurement_id INTEGER REFERENCES measurements (id),
  started TEXT,
  finished TEXT,
  UNIQUE (run_id, arch, problem_id, variant_id, regime),
  CHECK ((state = 'ready') = (device_id IS NULL)),
  CHECK ((state IN ('done', 'failed')) = (measurement_id IS NOT NULL))
);
CREATE INDEX jobs_state ON jobs (run_id, state);

-- Every measurement with its device, problem and variant spelled out.
CREATE VIEW results AS
SELECT m.id AS measurement_id, m.run_id, d.id AS device_id, d.host,
       d.name AS device, d.arch, m.backend, p.id AS problem_id, p.family,
       p.model_dim, p.inter_dim, p.experts, p.topk, p.dtype, p.act, p.tokens,
       p.routing, p.routing_param, p.seed, v.id AS variant_id, v.stage, v.spec,
       m.regime, m.status, m.median_us, m.min_us, m.p90_us, m.spread, m.samples,
       m.floor_us, m.err_max_abs, m.err_mean_abs, m.err_max_rel, m.sm_clock_mhz,
       m.temp_c, m.reason, m.compiler, m.source_hash, m.compile_key,
       m.tool_version, m.created
FROM measurements m
JOIN devices d ON d.id = m.device_id
JOIN problems p ON p.id = m.problem_id
JOIN variants v ON v.id = m.variant_id;

-- Per arch, problem shape, tokens, routing, stage and regime: the ok result
-- with the lowest median (ties: lower min, then spec). A variant that failed
-- verification on a problem on some device of an arch never wins it there.
CREATE VIEW best AS
WITH ranked AS (
  SELECT r.*, row_number() OVER (
           PARTITION BY arch, family, model_dim, inter_dim, experts, topk, dtype,
                        act, tokens, routing, routing_param, stage, regime
           ORDER BY median_us, min_us, spec, measurement_id) AS rank
  FROM results r
  WHERE r.status = 'ok'
    AND NOT EXISTS (SELECT 1 FROM results f
                    WHERE f.status = 'verify_fail' AND f.arch = r.arch
                      AND f.problem_id = r.problem_id AND f.variant_id = r.variant_id)
)
SELECT arch, family, model_dim, inter_dim, experts, topk, dtype, act, tokens,
       routing, routing_param, stage, regime, spec, variant_id, median_us,
       min_us, p90_us, spread, samples, floor_us, measurement_id, device, host
FROM ranked WHERE rank = 1;

-- Consecutive measured token counts of one series of best where the winner
-- changes: tokens_lo is won by winner_lo, tokens_hi by winner_hi.
CREATE VIEW crossovers AS
WITH series AS (
  SELECT arch, family, model_dim, inter_dim, experts, topk, dtype, act, stage,
         routing, routing_param, regime,
         lag(tokens) OVER w AS tokens_lo, tokens AS tokens_hi,
         lag(spec) OVER w AS winner_lo, spec AS winner_hi,
         lag(median_us) OVER w AS median_lo_us, median_us AS median_hi_us
  FROM best
  WINDOW w AS (PARTITION BY arch, family, model_dim, inter_dim, experts, topk,
                            dtype, act, stage, routing, routing_param, regime
               ORDER BY tokens)
)
SELECT * FROM series WHERE tokens_lo IS NOT NULL AND winner_lo <> winner_hi;

-- Progress of each run's plan, one row per run.
CREATE VIEW status AS
SELECT r.id AS run_id, r.host, r.started, r.finished, r.status AS run_status,
       count(j.id) AS total,
       count(j.id) FILTER (WHERE j.state = 'ready') AS ready,
       count(j.id) FILTER (WHERE j.state = 'running') AS running,
       count(j.id) FILTER (WHERE j.state = 'done') AS done,
       count(j.id) FILTER (WHERE j.state = 'failed') AS failed
FROM runs r LEFT JOIN jobs j ON j.run_id = r.id
GROUP BY r.id;

-- @migration 2

-- Who runs a run, so that a later pipetune can tell a dead run from a live
-- one (db/README.md "Dead runs"): the process id on runs.host and the Linux
-- boot id (/proc/sys/kernel/random/boot_id; NULL where there is none). Runs
-- recorded before this migration have neither.
ALTER TABLE runs ADD COLUMN pid INTEGER CHECK (pid > 0);
ALTER TABLE runs ADD COLUMN boot_id TEXT;

-- @migration 3
-- status-infeasible (issue 14 item 19): the status view counts infeasible
-- items (the device cannot hold the variant: never run) apart from failed
-- ones. failed keeps its place and now excludes them; infeasible is added
-- last, so queries naming the old columns keep working.
DROP VIEW status;
CREATE VIEW status AS
SELECT r.id AS run_id, r.host, r.started, r.finished, r.status AS run_status,
       count(j.id) AS total,
       count(j.id) FILTER (WHERE j.state = 'ready') AS ready,
       count(j.id) FILTER (WHERE j.state = 'running') AS running,
       count(j.id) FILTER (WHERE j.state = 'done') AS done,
       count(j.id) FILTER (WHERE j.state = 'failed'
                           AND m.status IS NOT 'infeasible') AS failed,
       count(j.id) FILTER (WHERE j.state = 'failed'
                           AND m.status IS 'infeasible') AS infeasible
FROM runs r LEFT JOIN jobs j ON j.run_id = r.id
LEFT JOIN measurements m ON m.id = j.measurement_id
GROUP BY r.id;

-- @migration 4
-- issue 13: held-out points and the history of retuned items.
-- A held-out measurement (tune --holdout: token counts between the grid's,
-- measured to check the table) is read by query regret but is never a
-- table's winner: best, and so crossovers, emit and report, leave it out.
ALTER TABLE measurements ADD COLUMN holdout INTEGER NOT NULL DEFAULT 0
  CHECK (holdout IN (0, 1));
-- A result of another device of the same model and arch that a retune
-- measured again is superseded: kept, with its run, but no longer read
-- (results leaves it out), so that the retune's results are the current
-- ones whichever GPU of the host measured them.
ALTER TABLE measurements ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0
  CHECK (superseded IN (0, 1));
-- A run of tune --retune names the run that began the retune (itself, or
-- the retune a --resume continues): only results of that run or later count
-- as measured for it. NULL for every other run.
ALTER TABLE runs ADD COLUMN retune INTEGER REFERENCES runs (id);

-- A result replaced by another run's result for the same key (a retune, a
-- merge) is kept here with its run, so that runs can be compared.
CREATE TABLE measurement_history (
  id INTEGER PRIMARY KEY,
  measurement_id INTEGER NOT NULL REFERENCES measurements (id),
  run_id INTEGER NOT NULL REFERENCES runs (id),
  status TEXT NOT NULL,
  median_us REAL,
  min_us REAL,
  p90_us REAL,
  spread REAL,
  samples INTEGER,
  floor_us REAL,
  err_max_abs REAL,
  err_mean_abs REAL,
  err_max_rel REAL,
  sm_clock_mhz INTEGER,
  temp_c INTEGER,
  reason TEXT,
  backend TEXT NOT NULL,
  compiler TEXT NOT NULL,
  source_hash TEXT NOT NULL,
  compile_key TEXT,
  tool_version TEXT NOT NULL,
  created TEXT NOT NULL,
  holdout INTEGER NOT NULL
);
CREATE INDEX measurement_history_run ON measurement_history (run_id);

CREATE TRIGGER measurements_keep_history
BEFORE UPDATE OF run_id ON measurements
WHEN OLD.run_id <> NEW.run_id
BEGIN
  INSERT INTO measurement_history (measurement_id, run_id, status, median_us,
    min_us, p90_us, spread, samples, floor_us, err_max_abs, err_mean_abs,
    err_max_rel, sm_clock_mhz, temp_c, reason, backend, compiler, source_hash,
    compile_key, tool_version, created, holdout)
  VALUES (OLD.id, OLD.run_id, OLD.status, OLD.median_us, OLD.min_us,
    OLD.p90_us, OLD.spread, OLD.samples, OLD.floor_us, OLD.err_max_abs,
    OLD.err_mean_abs, OLD.err_max_rel, OLD.sm_clock_mhz, OLD.temp_c,
    OLD.reason, OLD.backend, OLD.compiler, OLD.source_hash, OLD.compile_key,
    OLD.tool_version, OLD.created, OLD.holdout);
END;

DROP VIEW crossovers;
DROP VIEW best;
DROP VIEW results;

CREATE VIEW results AS
SELECT m.id AS measurement_id, m.run_id, d.id AS device_id, d.host,
       d.name AS device, d.arch, m.backend, p.id AS problem_id, p.family,
       p.model_dim, p.inter_dim, p.experts, p.topk, p.dtype, p.act, p.tokens,
       p.routing, p.routing_param, p.seed, v.id AS variant_id, v.stage, v.spec,
       m.regime, m.status, m.median_us, m.min_us, m.p90_us, m.spread, m.samples,
       m.floor_us, m.err_max_abs, m.err_mean_abs, m.err_max_rel, m.sm_clock_mhz,
       m.temp_c, m.reason, m.compiler, m.source_hash, m.compile_key,
       m.tool_version, m.created, m.holdout
FROM measurements m
JOIN devices d ON d.id = m.device_id
JOIN problems p ON p.id = m.problem_id
JOIN variants v ON v.id = m.variant_id
WHERE m.superseded = 0;

CREATE VIEW best AS
WITH ranked AS (
  SELECT r.*, row_number() OVER (
           PARTITION BY arch, family, model_dim, inter_dim, experts, topk, dtype,
                        act, tokens, routing, routing_param, stage, regime
           ORDER BY median_us, min_us, spec, measurement_id) AS rank
  FROM results r
  WHERE r.status = 'ok' AND r.holdout = 0
    AND NOT EXISTS (SELECT 1 FROM results f
                    WHERE f.status = 'verify_fail' AND f.arch = r.arch
                      AND f.problem_id = r.problem_id AND f.variant_id = r.variant_id)
)
SELECT arch, family, model_dim, inter_dim, experts, topk, dtype, act, tokens,
       routing, routing_param, stage, regime, spec, variant_id, median_us,
       min_us, p90_us, spread, samples, floor_us, measurement_id, device, host
FROM ranked WHERE rank = 1;

CREATE VIEW crossovers AS
WITH series AS (
  SELECT arch, family, model_dim, inter_dim, experts, topk, dtype, act, stage,
         routing, routing_param, regime,
         lag(tokens) OVER w AS tokens_lo, tokens AS tokens_hi,
         lag(spec) OVER w AS winner_lo, spec AS winner_hi,
         lag(median_us) OVER w AS median_lo_us, median_us AS median_hi_us
  FROM best
  WINDOW w AS (PARTITION BY arch, family, model_dim, inter_dim, experts, topk,
                            dtype, act, stage, routing, routing_param, regime
               ORDER BY tokens)
)
SELECT * FROM series WHERE tokens_lo IS NOT NULL AND winner_lo <> winner_hi;

-- Every result of every run: the current ones, the superseded ones and
-- those kept in history, one row per (run, device, problem, variant, regime).
CREATE VIEW run_results AS
WITH every AS (
  SELECT measurement_id, run_id, status, median_us, min_us, p90_us, spread,
         samples, created, holdout
  FROM measurement_history
  UNION ALL
  SELECT id, run_id, status, median_us, min_us, p90_us, spread, samples,
         created, holdout
  FROM measurements
)
SELECT e.run_id, m.id AS measurement_id, d.id AS device_id, d.name AS device,
       d.arch, p.id AS problem_id, p.family, p.model_dim, p.inter_dim,
       p.experts, p.topk, p.dtype, p.act, p.tokens, p.routing,
       p.routing_param, p.seed, v.id AS variant_id, v.stage, v.spec, m.regime,
       e.status, e.median_us, e.min_us, e.p90_us, e.spread, e.samples,
       e.created, e.holdout
FROM every e
JOIN measurements m ON m.id = e.measurement_id
JOIN devices d ON d.id = m.device_id
JOIN problems p ON p.id = m.problem_id
JOIN variants v ON v.id = m.variant_id;

-- @migration 5
-- pair-timings (issue 13 part 4): the table's (gemm1, gemm2) pair timed as
-- it ships, on one sort with sbm = max(bm1, bm2), gemm1 then gemm2 on
-- gemm1's own output (and the reduce kernel for the reduce epilog), verified
-- against the oracle before it is timed. One result per (device, problem,
-- pair, regime): a later one replaces it in place, as in measurements.
CREATE TABLE pair_measurements (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id),
  device_id INTEGER NOT NULL REFERENCES devices (id),
  problem_id INTEGER NOT NULL REFERENCES problems (id),
  g1_variant_id INTEGER NOT NULL REFERENCES variants (id),
  g2_variant_id INTEGER NOT NULL REFERENCES variants (id),
  sbm INTEGER NOT NULL CHECK (sbm > 0),
  regime TEXT NOT NULL CHECK (regime IN ('cold', 'warm')),
  status TEXT NOT NULL CHECK (status IN ('ok', 'verify_fail', 'compile_fail',
                                         'infeasible', 'launch_fail', 'timeout', 'crash')),
  median_us REAL,
  min_us REAL,
  p90_us REAL,
  spread REAL,
  samples INTEGER,
  err_max_rel REAL,                                     -- relative L2 of out against the oracle
  sm_clock_mhz INTEGER,
  temp_c INTEGER,
  reason TEXT,
  backend TEXT NOT NULL CHECK (backend IN ('cuda', 'hip')),
  compiler TEXT NOT NULL,
  g1_source_hash TEXT NOT NULL REFERENCES kernel_sources (hash),
  g2_source_hash TEXT NOT NULL REFERENCES kernel_sources (hash),
  tool_version TEXT NOT NULL,
  created TEXT NOT NULL,
  UNIQUE (device_id, problem_id, g1_variant_id, g2_variant_id, regime),
  CHECK (status <> 'ok' OR coalesce(samples > 0 AND min_us > 0
                                    AND min_us <= median_us
                                    AND median_us <= p90_us, 0))
);
CREATE INDEX pair_measurements_problem ON pair_measurements (problem_id);

-- Every pair result with its device, problem and both variants spelled out.
CREATE VIEW pair_results AS
SELECT m.id AS pair_id, m.run_id, d.id AS device_id, d.name AS device, d.arch,
       p.id AS problem_id, p.family, p.model_dim, p.inter_dim, p.experts,
       p.topk, p.dtype, p.act, p.tokens, p.routing, p.routing_param,
       v1.spec AS g1_spec, v2.spec AS g2_spec, m.sbm, m.regime, m.status,
       m.median_us, m.min_us, m.p90_us, m.spread, m.samples, m.err_max_rel,
       m.reason, m.created, m.tool_version
FROM pair_measurements m
JOIN devices d ON d.id = m.device_id
JOIN problems p ON p.id = m.problem_id
JOIN variants v1 ON v1.id = m.g1_variant_id
JOIN variants v2 ON v2.id = m.g2_variant_id;

-- @migration 6
-- Searches (issue 12): which strategy chose the variants measured at a
-- point (problem, stage, regime, arch): exhaustive, pruned, adaptive or
-- spec (explicit --variants lists), with its budget (0: none), the rounds
-- it ran, the candidates it proposed, whether it finished and the run that
-- advanced it last. A later search of the same point replaces the row.
CREATE TABLE searches (
  id INTEGER PRIMARY KEY,
  problem_id INTEGER NOT NULL REFERENCES problems (id),
  stage TEXT NOT NULL CHECK (stage IN ('gemm1', 'gemm2')),
  regime TEXT NOT NULL CHECK (regime IN ('cold', 'warm')),
  arch TEXT NOT NULL,
  strategy TEXT NOT NULL
    CHECK (strategy IN ('exhaustive', 'pruned', 'adaptive', 'spec')),
  max_evals INTEGER NOT NULL CHECK (max_evals >= 0),
  rounds INTEGER NOT NULL CHECK (rounds >= 0),
  proposed INTEGER NOT NULL CHECK (proposed >= 0),
  finished INTEGER NOT NULL CHECK (finished IN (0, 1)),
  run_id INTEGER REFERENCES runs (id),
  updated TEXT NOT NULL,
  UNIQUE (problem_id, stage, regime, arch)
);

-- Per point: the variants measured (run: anything but infeasible) and
-- found infeasible, and the search that chose them (NULL strategy: tuned
-- before searches were recorded).
CREATE VIEW search_summary AS
SELECT d.arch, p.family, p.model_dim, p.inter_dim, p.experts, p.topk, p.dtype,
       p.act, p.tokens, p.routing, p.routing_param, v.stage, m.regime,
       count(DISTINCT m.variant_id)
         FILTER (WHERE m.status <> 'infeasible') AS measured,
       count(DISTINCT m.variant_id)
         FILTER (WHERE m.status = 'infeasible') AS infeasible,
       s.strategy, s.max_evals, s.rounds, s.proposed, s.finished
FROM measurements m
JOIN devices d ON d.id = m.device_id
JOIN problems p ON p.id = m.problem_id
JOIN variants v ON v.id = m.variant_id
LEFT JOIN searches s ON s.problem_id = m.problem_id AND s.stage = v.stage
  AND s.regime = m.regime AND s.arch = d.arch
GROUP BY d.arch, m.problem_id, v.stage, m.regime;
