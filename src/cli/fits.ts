import type { Command } from 'commander';

export function registerFitsCommands(program: Command): void {
  void program;
}
