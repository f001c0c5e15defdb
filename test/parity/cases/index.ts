// Every parity case, from one file per concept. Names are unique (checked here).
import type { Case } from '../case.js';
import { EXPECT_CASES } from './expect.js';
import { FILTER_CASES } from './filters.js';
import { KEEP_CASES } from './keep.js';
import { NAT_ZONE_CASES } from './nat-zones.js';
import { NEUTRON } from './neutron.js';
import { OUTPUT_CASES } from './outputs.js';
import { PROTOCOL_CASES } from './protocols.js';
import { UPDATE_CASES } from './update.js';
import { VERB_CASES } from './verbs.js';

export const CASES: Case[] = [
  ...NEUTRON, ...FILTER_CASES, ...PROTOCOL_CASES, ...VERB_CASES, ...OUTPUT_CASES, ...UPDATE_CASES, ...NAT_ZONE_CASES, ...EXPECT_CASES, ...KEEP_CASES,
];

const seen = new Set<string>();
const twice = CASES.filter((c) => seen.has(c.name) || !seen.add(c.name));
if (twice.length) throw new Error(`parity cases named twice: ${twice.map((c) => c.name).join('; ')}`);
