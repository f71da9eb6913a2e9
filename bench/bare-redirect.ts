/** The ceiling: a bare Fastify 302 redirect, nothing else. PORT from argv. */
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/c/:code', async (_req, reply) => reply.code(302).header('location', 'https://brand.example/land?cid=x').send())
await app.listen({ port: Number(process.argv[2]), host: '127.0.0.1' })
process.stdout.write('ready\n')
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))
