/**
 * Migration import end to end, through the command an operator runs: affiliates with their
 * old ids, links with their legacy codes (which keep redirecting), 10,000 player bindings
 * (a dry run first, which changes nothing), then a deposit for every player: each one is
 * attributed to the affiliate of the player's legacy link. Per-row errors are reported.
 */
import { execFile } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pool, spawnEmbedded, waitFor, type EmbeddedApp } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'

const run = promisify(execFile)
const files = tempDir('import-csv')
let app: EmbeddedApp
let call: EmbeddedApp['call']
const PLAYERS = 10_000
const LEGACY = ['old-aff1-main', 'old-aff2-main', 'old_aff3_promo']

beforeAll(async () => {
  app = await spawnEmbedded('import-e2e')
  call = app.call
}, 120_000)

afterAll(async () => {
  await app?.dispose()
  rmSync(files, { recursive: true, force: true })
})

async function importCsv(kind: string, csv: string, ...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(files, `${kind}-${Math.random()}.csv`)
  writeFileSync(file, csv)
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'scripts/import.ts', kind, file, '--url', app.url, ...extra], {
      env: { ...process.env, OPERATOR_API_KEY: TEST_SECRETS.OPERATOR_API_KEY },
      maxBuffer: 16 * 1024 * 1024,
    })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const playerOf = (i: number) => `legacy-player-${i}`
const affOf = (i: number) => i % 3

describe('migration import', () => {
  const ids: number[] = []

  it('imports affiliates by their old ids; a second run finds them; bad rows are named', async () => {
    const csv = 'external_id,name,email\nCX-1,Alpha Media,alpha@example.com\nCX-2,"Beta, Ltd",\nCX-3,Gamma,\n,No Id,\nCX-4,Bad Mail,not-an-email\n'
    const r = await importCsv('affiliates', csv)
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('line 5: external_id')
    expect(r.stdout).toContain('line 6: email')
    expect(r.stderr).toMatch(/5 rows: 3 create, 2 refused/)
    const again = await importCsv('affiliates', 'external_id,name\nCX-1,Alpha Media\n')
    expect(again.code).toBe(0)
    expect(again.stderr).toMatch(/1 rows: 1 exists/)
    const all = (await call('GET', '/api/affiliates')).body.items as { id: number; externalId?: string; name: string }[]
    for (const x of ['CX-1', 'CX-2', 'CX-3']) ids.push(all.find((a) => a.externalId === x)!.id)
    expect(all.find((a) => a.externalId === 'CX-2')!.name).toBe('Beta, Ltd')
  })

  it('imports links with their legacy codes, which redirect', async () => {
    const csv = ['code,affiliate_external_id,destination', ...LEGACY.map((c, i) => `${c},CX-${i + 1},https://brand.example/land?cid={click_id}`), 'old-x,CX-99,https://brand.example/'].join('\n')
    const dry = await importCsv('links', csv, '--dry-run')
    expect(dry.stderr).toMatch(/4 rows: 3 would create, 1 refused/)
    expect((await fetch(`${app.url}/c/${LEGACY[0]}`, { redirect: 'manual' })).status).toBe(404) // the dry run changed nothing
    const r = await importCsv('links', csv)
    expect(r.stdout).toContain("line 5: no affiliate with external id 'CX-99'")
    await new Promise((res) => setTimeout(res, 300))
    for (const code of LEGACY) {
      const res = await fetch(`${app.url}/c/${code}`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(res.headers.get('location')).toMatch(/^https:\/\/brand\.example\/land\?cid=[A-Za-z0-9_-]{52}$/)
    }
  })

  it(`binds ${PLAYERS.toLocaleString('en')} players to legacy links (dry run first), then attributes every deposit to the right affiliate`, async () => {
    const csv = ['player_id,link_code', ...Array.from({ length: PLAYERS }, (_, i) => `${playerOf(i)},${LEGACY[affOf(i)]}`), 'ghost,no-such-link'].join('\n')
    const dry = await importCsv('players', csv, '--dry-run')
    expect(dry.stderr).toMatch(new RegExp(`${PLAYERS + 1} rows: ${PLAYERS} would bind, 1 refused`))
    expect(dry.stderr).toMatch(/\[#{30}\] 10,001\/10,001/)
    const r = await importCsv('players', csv)
    expect(r.stdout).toContain(`line ${PLAYERS + 2}: no link with code 'no-such-link'`)

    const source = (await call('POST', '/api/sources', { name: 'old platform' })).body
    await new Promise((res) => setTimeout(res, 300))
    await pool(PLAYERS, 32, async (i) => {
      const p = await fetch(`${app.url}/postback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-postback-token': source.token },
        body: JSON.stringify({ source: source.id, event: 'deposit', event_id: `dep-${i}`, player_id: playerOf(i), amount: '10', currency: 'EUR' }),
      })
      if (p.status !== 200) throw new Error(`deposit ${i}: ${p.status} ${await p.text()}`)
    })

    const deposits = await waitFor(
      'every deposit in ClickHouse',
      async () => {
        const all: { eventId: string; affiliateId: number; status: string; reason: string }[] = []
        let cursor: string | undefined
        do {
          const page = await call('GET', `/api/events?kind=deposit&limit=1000${cursor ? `&cursor=${cursor}` : ''}`)
          all.push(...page.body.items)
          cursor = page.body.next
        } while (cursor)
        return all
      },
      (all) => all.length >= PLAYERS,
      120_000,
    )
    expect(deposits).toHaveLength(PLAYERS)
    const wrong = deposits.filter((d) => {
      const i = Number(d.eventId.split(':dep-')[1])
      return d.status !== 'attributed' || d.reason !== 'bound_player' || d.affiliateId !== ids[affOf(i)]
    })
    expect(wrong).toEqual([])
    const imported = (await call('GET', `/api/events?kind=reassign&limit=1`)).body.items[0]
    expect(imported).toMatchObject({ status: 'attributed', reason: 'imported', details: { by: 'import' } })
  }, 240_000)

  it('a second import of a bound player changes nothing (first touch stands)', async () => {
    const r = await importCsv('players', `player_id,link_code\n${playerOf(0)},${LEGACY[1]}\n`)
    expect(r.stderr).toMatch(/1 rows: 1 exists/)
  })
})
