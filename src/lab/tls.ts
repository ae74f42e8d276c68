import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LabError } from '../errors.js'

/** The lab's test certificates: a CA, and one server certificate for the nodes signed by it. */
export interface LabCertificates {
  /** The CA certificate (PEM): give it to clients as `tls: { ca }`. */
  ca: string
  caFile: string
  certFile: string
  keyFile: string
}

/**
 * Make a throwaway CA and a server certificate in `dir` with the `openssl` command line. The
 * certificate names 127.0.0.1 and localhost, or only `hostname` when nodes are announced by name.
 */
export function makeCertificates(dir: string, hostname?: string): LabCertificates {
  const file = (name: string) => join(dir, name)
  const openssl = (...args: string[]) => {
    try {
      execFileSync('openssl', args, { stdio: 'pipe' })
    } catch (err) {
      throw new LabError('openssl failed to make the lab certificates (is `openssl` installed?)', { cause: err })
    }
  }
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(
    'req',
    '-x509',
    ...key,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=twiceredis lab CA',
  )
  openssl(
    'req',
    ...key,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    `/CN=${hostname ?? '127.0.0.1'}`,
  )
  const names = hostname ? `DNS:${hostname}` : 'IP:127.0.0.1,DNS:localhost'
  writeFileSync(file('server.ext'), `subjectAltName=${names}\n`)
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.crt'),
    '-days',
    '2',
    '-extfile',
    file('server.ext'),
  )
  return {
    ca: readFileSync(file('ca.crt'), 'utf8'),
    caFile: file('ca.crt'),
    certFile: file('server.crt'),
    keyFile: file('server.key'),
  }
}
