// bench/smtp_accept.py's Haraka plugin: accept every recipient, and accept a message only once its bytes are
// written to a file of its own in BENCH_SPOOL_DIR and fsync'd, the durable-before-250 rule agentinbox keeps.
'use strict'

const fs = require('node:fs/promises')
const path = require('node:path')

const spool = process.env.BENCH_SPOOL_DIR

exports.register = function () {
    this.register_hook('rcpt', 'accept_recipient')
    this.register_hook('queue', 'write_to_disk')
}

exports.accept_recipient = function (next) {
    next(OK)
}

exports.write_to_disk = function (next, connection) {
    const txn = connection.transaction
    txn.message_stream.get_data(async (data) => {
        let file
        try {
            file = await fs.open(path.join(spool, `${txn.uuid}.eml`), 'wx')
            await file.write(data)
            await file.sync()
            await file.close()
            next(OK)
        } catch (err) {
            connection.logerror(this, `spool write failed: ${err.message}`)
            if (file) await file.close().catch(() => {})
            next(DENYSOFT, 'spool write failed')
        }
    })
}
