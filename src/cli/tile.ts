import type { Command } from 'commander';

export function registerTileCommands(program: Command): void {
  void program;
}
