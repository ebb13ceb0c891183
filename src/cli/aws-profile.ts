// AWS shared configuration for the CLI's signed commands (coffer rekey): the profile named
// by AWS_PROFILE (or AWS_DEFAULT_PROFILE, else "default") in the credentials file
// (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials: aws_access_key_id,
// aws_secret_access_key, aws_session_token) and the config file (AWS_CONFIG_FILE, else
// ~/.aws/config: [profile NAME] or [default] sections with region and endpoint_url, and
// credentials too, as the AWS CLI allows). A small INI reader: sections, key = value,
// # and ; comments; nested (indented) sub-sections such as "s3 =" are skipped.
// Precedence is the caller's: flags, then environment variables, then this profile.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError } from './output.js';

export interface AwsProfile {
  name: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  region?: string;
  endpointUrl?: string;
}

type Ini = Map<string, Map<string, string>>;

/** Parses an INI file: section name -> key -> value (keys lower-cased; later values win). */
export function parseIni(text: string): Ini {
  const out: Ini = new Map();
  let section: Map<string, string> | undefined;
  let nested = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\uFEFF/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const header = /^\[\s*([^\]]+?)\s*\]\s*(?:[#;].*)?$/.exec(trimmed);
    if (header) {
      const name = header[1]!.replace(/\s+/g, ' ');
      section = out.get(name) ?? new Map<string, string>();
      out.set(name, section);
      nested = false;
      continue;
    }
    if (!section) continue;
    const indented = /^\s/.test(line);
    if (indented && nested) continue; // a value of a sub-section ("s3 =\n  addressing_style = path")
    const eq = trimmed.indexOf('=');
    if (eq < 0) continue;
    const key = trimmed.slice(0, eq).trim().toLowerCase();
    const value = trimmed.slice(eq + 1).replace(/\s+[#;].*$/, '').trim();
    nested = value === '';
    if (!indented && !nested) section.set(key, value);
  }
  return out;
}

function readIni(file: string): Ini | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return parseIni(text);
}

/**
 * The named profile (AWS_PROFILE) or the default one, from the two files; undefined when
 * neither file has it. A profile named by AWS_PROFILE that neither file has is an error.
 */
export function loadAwsProfile(env: NodeJS.ProcessEnv): AwsProfile | undefined {
  const named = env.AWS_PROFILE || env.AWS_DEFAULT_PROFILE;
  const name = named || 'default';
  const home = env.HOME || os.homedir();
  const credentialsFile = env.AWS_SHARED_CREDENTIALS_FILE || path.join(home, '.aws', 'credentials');
  const configFile = env.AWS_CONFIG_FILE || path.join(home, '.aws', 'config');
  const fromCredentials = readIni(credentialsFile)?.get(name);
  const config = readIni(configFile);
  const fromConfig = config?.get(`profile ${name}`) ?? (name === 'default' ? config?.get('default') : undefined);
  if (!fromCredentials && !fromConfig) {
    if (named) throw new CliError(`the AWS profile "${name}" (AWS_PROFILE) is in neither ${credentialsFile} nor ${configFile}`, 'check AWS_PROFILE, or AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE');
    return undefined;
  }
  // The credentials file wins over credentials in the config file, as in the AWS CLI.
  const get = (key: string): string | undefined => fromCredentials?.get(key) || fromConfig?.get(key) || undefined;
  const p: AwsProfile = { name };
  const set = <K extends keyof AwsProfile>(k: K, v: AwsProfile[K] | undefined): void => {
    if (v !== undefined) p[k] = v;
  };
  set('accessKeyId', get('aws_access_key_id'));
  set('secretAccessKey', get('aws_secret_access_key'));
  set('sessionToken', get('aws_session_token'));
  set('region', fromConfig?.get('region') || fromCredentials?.get('region') || undefined);
  set('endpointUrl', fromConfig?.get('endpoint_url') || fromCredentials?.get('endpoint_url') || undefined);
  return p;
}
