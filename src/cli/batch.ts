import type { Command } from 'commander';
import { parseIndex, printJson } from './options.ts';

export function registerBatchCommands(program: Command): void {
  const batch = program.command('batch').description('AWS Batch: the set-up the batch executor needs');
  batch
    .command('job-definition')
    .description(
      'print the job definition (deploy/aws/job-definition.json filled in) for `aws batch register-job-definition --cli-input-json file://FILE`',
    )
    .requiredOption('--image <uri>', 'the job image in ECR (built from the Dockerfile)')
    .requiredOption('--job-role <arn>', 'IAM role the jobs run as (reads and writes the bucket)')
    .option('--name <name>', 'job definition name', 'rapid-job')
    .option('--vcpus <n>', 'vCPUs per job', '2')
    .option('--memory <MiB>', 'memory per job, MiB', '8192')
    .action(async (opts: { image: string; jobRole: string; name: string; vcpus: string; memory: string }) => {
      // AWS's client library loads only for the commands that use it (startup time).
      const { renderJobDefinition } = await import('../exec/batch.ts');
      printJson(
        renderJobDefinition({
          name: opts.name,
          image: opts.image,
          jobRoleArn: opts.jobRole,
          vcpus: parseIndex(opts.vcpus, '--vcpus'),
          memoryMiB: parseIndex(opts.memory, '--memory'),
        }),
      );
    });
}
