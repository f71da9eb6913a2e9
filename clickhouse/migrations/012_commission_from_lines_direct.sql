-- Commission is reported straight from ledger_lines, not through a materialized view. A kill
-- between an insert's table part and its view part (chDB commits them one after the other)
-- left lines without their rollup rows, and a redo cannot see that: the fault test found
-- commission missing from the rollup after 20 kills. The ledger has far fewer rows than the
-- events, and each line has one place (affiliate, number), so the reports aggregate it directly.
DROP VIEW IF EXISTS commission_lines_mv;
